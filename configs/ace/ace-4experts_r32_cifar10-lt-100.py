# ACE with 4 experts (paper Tables 2 and 4).
_base_ = './ace_r32_cifar10-lt-100.py'

model = dict(backbone=dict(num_experts=4), head=dict(num_experts=4))
