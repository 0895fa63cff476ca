# Table 7 (4): group average without the Eq. 2 rescaling.
_base_ = '../ace_r32_cifar100-lt-100.py'

model = dict(head=dict(aggregation='avg', rescale=None))
