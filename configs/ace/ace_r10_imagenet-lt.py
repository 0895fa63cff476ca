# ACE, 3 experts, ResNet-10 on ImageNet-LT. Paper Table 3: 44.0 top-1.
# Batch 64 per GPU; lr 0.1 per 256 images, scaled by auto_scale_lr.
_base_ = [
    '../_base_/models/ace_resnet10.py',
    '../_base_/datasets/imagenet_lt.py',
    '../_base_/schedules/ace_imagenet_lt_180e.py', '../_base_/ace_runtime.py'
]

data_preprocessor = dict(batch_augments=_base_.ace_batch_augments)
