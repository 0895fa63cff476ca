# Cross-entropy baseline, ResNet-50 on iNaturalist 2018.
_base_ = [
    '../_base_/models/resnet50.py',
    '../_base_/datasets/inat2018.py',
    '../_base_/schedules/imagenet_lt_180e.py', '../_base_/default_runtime.py'
]

model = dict(head=dict(num_classes=8142))
