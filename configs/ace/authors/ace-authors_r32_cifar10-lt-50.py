# ACE as its authors ran it (winterxx/ACE, lib/config/cifar10_im50.yaml):
# CIFAR-10-LT-50, the recipe of cifar10_im100.yaml. Paper Table 4: 84.3.
_base_ = ['./ace-authors_r32_cifar10-lt-100.py']

train_dataloader = dict(dataset=dict(imb_factor=50))
