# Balanced softmax (Ren et al., NeurIPS 2020) = logit-adjusted loss with
# tau = 1 (Menon et al., ICLR 2021), ResNet-50, ImageNet-LT: the CE baseline
# with only the loss changed (class_counts='auto' from the training set).
_base_ = './ce_r50_imagenet-lt.py'

model = dict(
    head=dict(
        type='LongTailLinearClsHead',
        loss=dict(_delete_=True, type='BalancedSoftmaxLoss')))
