# Table 5 "SSC": split-specific classifiers, expert i only scores its |C_i|
# target classes (softmax over C_i, no L_com).
_base_ = '../ace_r32_cifar100-lt-100.py'

model = dict(
    head=dict(
        loss=dict(type='ACELoss', split_specific=True, complement=None)))
