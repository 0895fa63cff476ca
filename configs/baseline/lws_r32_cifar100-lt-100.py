# LWS, learnable weight scaling (Kang et al., ICLR 2020), ResNet-32, CIFAR-100-LT-100:
# the second stage on a CE checkpoint, as cRT (./crt_r32_cifar100-lt-100.py) but
# the classifier is kept and only a per-class scale of its logits is learned.
_base_ = './crt_r32_cifar100-lt-100.py'

model = dict(head=dict(type='LongTailLinearClsHead', lws=True))
custom_hooks = [
    dict(type='SecondStageHook',
         freeze=['backbone', 'neck', 'head.fc.weight', 'head.fc.bias'])
]
