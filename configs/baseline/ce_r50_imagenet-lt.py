# Cross-entropy baseline on ImageNet-LT (paper Table 3 baseline row).
_base_ = [
    '../_base_/models/resnet50.py',
    '../_base_/datasets/imagenet_lt.py',
    '../_base_/schedules/imagenet_lt_180e.py', '../_base_/default_runtime.py'
]
