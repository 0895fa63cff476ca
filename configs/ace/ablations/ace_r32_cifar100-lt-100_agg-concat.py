# Table 7 (3): group concat, each class from the expert it dominates, with
# unscaled logits as in the paper's formula.
_base_ = '../ace_r32_cifar100-lt-100.py'

model = dict(head=dict(aggregation='concat', rescale=None))
