# Table 8: alpha=0, i.e. no Mixup at all (ACE uses 0.3).
_base_ = '../ace_r32_cifar100-lt-100.py'

data_preprocessor = dict(batch_augments=None)
# No Mixup, so nothing to switch off.
custom_hooks = [
    h for h in _base_.custom_hooks if h.type != 'SwitchOffBatchAugHook'
]
