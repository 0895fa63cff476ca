# ACE, 3 experts, ResNeXt-50 (32x4d) on ImageNet-LT. Paper Table 3: 56.6.
_base_ = './ace_r10_imagenet-lt.py'

model = dict(
    backbone=dict(
        backbone=dict(
            type='ResNeXt', depth=50, groups=32, width_per_group=4)),
    head=dict(in_channels=2048))
