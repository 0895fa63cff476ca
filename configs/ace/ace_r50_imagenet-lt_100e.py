# The literal "100 epochs" reading of paper 4.1 (decays at 67 and 89).
_base_ = './ace_r50_imagenet-lt.py'

param_scheduler = [
    _base_.param_scheduler[0],
    dict(_base_.param_scheduler[1], milestones=[67, 89]),
]
train_cfg = dict(max_epochs=100)
