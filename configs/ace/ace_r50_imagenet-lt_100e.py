# The literal "100 epochs" reading of paper 4.1 (decays at 67 and 89).
_base_ = './ace_r50_imagenet-lt.py'

param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=True, begin=0, end=5,
         convert_to_iter_based=True),
    dict(type='MultiStepLR', by_epoch=True, milestones=[67, 89], gamma=0.1),
]
train_cfg = dict(max_epochs=100)
