# Mixed precision (same as `tools/train.py ... --amp`).
_base_ = './ace_r10_imagenet-lt.py'

optim_wrapper = dict(type='AmpOptimWrapper', loss_scale='dynamic')
