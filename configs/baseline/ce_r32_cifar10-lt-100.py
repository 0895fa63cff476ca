# Cross-entropy baseline, ResNet-32, CIFAR-10-LT with imbalance factor 100.
_base_ = [
    '../_base_/models/resnet32_cifar.py',
    '../_base_/datasets/cifar10_lt.py',
    '../_base_/schedules/cifar_lt_400e.py', '../_base_/default_runtime.py'
]
