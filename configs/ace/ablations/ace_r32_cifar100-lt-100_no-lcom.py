# Table 5 "without L_com": experts are not pushed to silence the
# classes they do not target.
_base_ = '../ace_r32_cifar100-lt-100.py'

model = dict(
    head=dict(loss=dict(type='ACELoss', complement=None)))
