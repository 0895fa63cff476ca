# Table 6: the uniform learning-rate scheme (Eq. 8).
_base_ = '../ace_r32_cifar100-lt-100.py'

optim_wrapper = dict(paramwise_cfg=dict(lr_scheme='uniform'))
