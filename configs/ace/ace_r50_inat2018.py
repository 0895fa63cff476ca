# ACE, 3 experts, ResNet-50 on iNaturalist 2018. Paper Table 3: 72.9 top-1.
_base_ = [
    '../_base_/models/ace_resnet10.py',
    '../_base_/datasets/inat2018.py',
    '../_base_/schedules/ace_imagenet_lt_180e.py', '../_base_/ace_runtime.py'
]

model = dict(
    backbone=dict(backbone=dict(type='ResNet', depth=50)),
    head=dict(in_channels=2048, num_classes=8142))
data_preprocessor = dict(batch_augments=_base_.ace_batch_augments)
