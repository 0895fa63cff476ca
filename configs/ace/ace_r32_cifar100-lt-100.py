# ACE, 3 experts, ResNet-32, CIFAR-100-LT with imbalance factor 100.
# Paper Table 2: 49.4 top-1 (many 66.1, medium 55.7, few 23.5).
_base_ = [
    '../_base_/models/ace_resnet32_cifar.py',
    '../_base_/datasets/cifar100_lt.py',
    '../_base_/schedules/ace_cifar_lt_400e.py', '../_base_/ace_runtime.py'
]

model = dict(head=dict(num_classes=100))
data_preprocessor = dict(batch_augments=_base_.ace_batch_augments)
