# Cross-entropy ResNet-32 on long-tailed handwritten digits: the quick start's
# baseline. Runs in about a minute on 2 CPU cores.
_base_ = [
    '../_base_/models/resnet32_cifar.py',
    '../_base_/datasets/digits_lt.py',
    '../_base_/default_runtime.py',
]

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.05, momentum=0.9, weight_decay=5e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=2,
         convert_to_iter_based=True),
    dict(type='MultiStepLR', by_epoch=True, milestones=[24, 28], gamma=0.1),
]
train_cfg = dict(by_epoch=True, max_epochs=30, val_interval=10)
val_cfg = dict()
test_cfg = dict()

default_hooks = dict(logger=dict(interval=10))
randomness = dict(seed=0)
