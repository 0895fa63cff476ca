# Table 7 (2): group max over the rescaled logits.
_base_ = '../ace_r32_cifar100-lt-100.py'

model = dict(head=dict(aggregation='max'))
