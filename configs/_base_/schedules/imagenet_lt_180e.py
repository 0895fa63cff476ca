# ImageNet-LT / iNaturalist 2018 schedule: the CIFAR-LT one (SGD, momentum
# 0.9, lr 0.1, 5 warm-up epochs) with weight decay 5e-4 and other decay
# points. The paper (4.1) says "100 epochs" but decays the lr "at epoch 120
# and 160", which a 100-epoch run never reaches. We keep the decay points,
# the more specific statement, and train 180 epochs: the schedule of BBN,
# the one-stage method ACE compares with on both datasets.
# configs/ace/ace_r50_imagenet-lt_100e.py keeps the 100-epoch reading with
# the decays moved proportionally (67, 89).
#
# lr 0.1 is for a total batch of 256; auto_scale_lr rescales it linearly to
# the real total batch (8 GPUs x 64 = 512 -> 0.2).
_base_ = './cifar_lt_400e.py'

optim_wrapper = dict(optimizer=dict(weight_decay=5e-4))
# The CIFAR-LT warm-up; x0.1 at epochs 120 and 160.
param_scheduler = [
    _base_.param_scheduler[0],
    dict(_base_.param_scheduler[1], milestones=[120, 160]),
]
train_cfg = dict(max_epochs=180, val_interval=5)
auto_scale_lr = dict(base_batch_size=256, enable=True)
