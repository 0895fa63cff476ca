# ACE, 3 experts, ResNet-50 on ImageNet-LT. Paper Table 3: 54.7 top-1.
#   tools/dist_train.sh configs/ace/ace_r50_imagenet-lt.py 8
# 8 GPUs x 64 images = 512 per step, lr 0.1 x 512 / 256 = 0.2 (auto_scale_lr).
# Each expert owns a copy of ResNet-50's stage 4.
_base_ = './ace_r10_imagenet-lt.py'

model = dict(
    backbone=dict(backbone=dict(type='ResNet', depth=50)),
    head=dict(in_channels=2048))
