# The ACE training recipe on CIFAR-LT (paper 3.4 and 4.1) on top of the
# plain CIFAR-LT schedule: expert i's lr is eta0 * (its data share) (Eq. 7).
# Mixup and its switch-off for the last 20 epochs: ../ace_runtime.py.
_base_ = './cifar_lt_400e.py'

optim_wrapper = dict(
    constructor='ACEOptimWrapperConstructor',
    paramwise_cfg=dict(lr_scheme='linear'))
