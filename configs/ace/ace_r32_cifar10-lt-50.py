_base_ = './ace_r32_cifar10-lt-100.py'

train_dataloader = dict(dataset=dict(imb_factor=50))
