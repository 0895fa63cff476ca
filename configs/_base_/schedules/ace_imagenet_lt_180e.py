# The ACE recipe on ImageNet-LT / iNaturalist: per-expert lr by data share
# (Eq. 7). Mixup and its switch-off for the last 20 epochs:
# ../ace_runtime.py.
_base_ = './imagenet_lt_180e.py'

optim_wrapper = dict(
    constructor='ACEOptimWrapperConstructor',
    paramwise_cfg=dict(lr_scheme='linear'))
