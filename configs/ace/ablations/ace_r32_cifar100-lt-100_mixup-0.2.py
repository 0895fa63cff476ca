# Table 8: Mixup alpha=0.2 (ACE uses 0.3).
_base_ = '../ace_r32_cifar100-lt-100.py'

data_preprocessor = dict(
    batch_augments=dict(augments=dict(type='Mixup', alpha=0.2)))
