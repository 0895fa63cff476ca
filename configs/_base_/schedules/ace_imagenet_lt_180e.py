# The ACE recipe on ImageNet-LT / iNaturalist: per-expert lr by data share
# (Eq. 7); Mixup (alpha=0.3, set in each ACE config) off for the last 20
# epochs.
_base_ = './imagenet_lt_180e.py'

optim_wrapper = dict(
    constructor='ACEOptimWrapperConstructor',
    paramwise_cfg=dict(lr_scheme='linear'))
custom_hooks = [dict(type='SwitchOffBatchAugHook', num_last_epochs=20)]
