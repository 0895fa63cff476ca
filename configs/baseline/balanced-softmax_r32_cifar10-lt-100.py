# Balanced softmax (Ren et al., NeurIPS 2020) = logit-adjusted loss with
# tau = 1 (Menon et al., ICLR 2021), ResNet-32, CIFAR-10-LT-100: the CE
# baseline with only the loss changed (class_counts='auto' from the
# training set).
_base_ = './ce_r32_cifar10-lt-100.py'

model = dict(
    head=dict(
        type='LongTailLinearClsHead',
        loss=dict(_delete_=True, type='BalancedSoftmaxLoss')))
