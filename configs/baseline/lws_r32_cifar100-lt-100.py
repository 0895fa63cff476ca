# LWS, learnable weight scaling (Kang et al., ICLR 2020), ResNet-32, CIFAR-100-LT-100:
# the second stage on a CE checkpoint, as cRT (./crt_r32_cifar100-lt-100.py) but
# the classifier is kept and only a per-class scale of its logits is learned.
_base_ = ['./crt_r32_cifar100-lt-100.py', './_base_/lws.py']

model = dict(head=_base_.lws_head)
# cRT's SecondStageHook (first) without its re-initialisation.
custom_hooks = [dict(type='SecondStageHook')] + _base_.custom_hooks[1:]
optim_wrapper = dict(paramwise_cfg=_base_.lws_paramwise_cfg)
