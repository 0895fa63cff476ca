# The ACE training recipe on CIFAR-LT (paper 3.4 and 4.1) on top of the
# plain CIFAR-LT schedule: expert i's lr is eta0 * (its data share) (Eq. 7),
# and Mixup (alpha=0.3, set beside the dataset in each ACE config, since
# data_preprocessor lives in the dataset base) is off for the last 20 epochs.
_base_ = './cifar_lt_400e.py'

optim_wrapper = dict(
    constructor='ACEOptimWrapperConstructor',
    paramwise_cfg=dict(lr_scheme='linear'))
custom_hooks = [dict(type='SwitchOffBatchAugHook', num_last_epochs=20)]
