# ACE with 4 experts (paper Tables 2 and 4), CIFAR-10-LT-50.
_base_ = './ace-4experts_r32_cifar10-lt-100.py'

train_dataloader = dict(dataset=dict(imb_factor=50))
