# ACE, 3 experts, ResNet-32 (each expert owns a copy of stage 3), CIFAR-10-LT
# with imbalance factor 100. Paper Table 4: 81.2 top-1.
_base_ = [
    '../_base_/models/ace_resnet32_cifar.py',
    '../_base_/datasets/cifar10_lt.py',
    '../_base_/schedules/ace_cifar_lt_400e.py',
    '../_base_/default_runtime.py',
]

data_preprocessor = dict(
    batch_augments=dict(augments=dict(type='Mixup', alpha=0.3)))
