# ACE as its authors ran it (github winterxx/ACE,
# configs/imagenetlt_baseline_res50.yaml): ImageNet-LT, ResNet-50.
# Paper Table 3: 54.7 top-1. As the ResNet-10 yaml but lr 0.1 (total batch
# 256), 200 epochs with Mixup + 20 without, x0.1 at 140 and 180.
_base_ = ['./ace-authors_r10_imagenet-lt.py']

model = dict(
    backbone=dict(backbone=dict(type='ResNet', depth=50)),
    head=dict(in_channels=2048))
optim_wrapper = dict(optimizer=dict(lr=0.1))
param_scheduler = _base_.authors_imagenet_param_scheduler
train_cfg = dict(max_epochs=220)
