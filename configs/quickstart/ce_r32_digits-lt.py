# Cross-entropy ResNet-32 on long-tailed handwritten digits: the quick start's
# baseline. About 40 s on 2 CPU cores.
_base_ = [
    '../_base_/models/resnet32_cifar.py',
    '../_base_/datasets/digits_lt.py',
    '../_base_/schedules/digits_30e.py', '../_base_/default_runtime.py'
]

default_hooks = dict(logger=dict(interval=10))
randomness = dict(seed=0)
