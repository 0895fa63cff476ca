# ImageNet-LT / iNaturalist 2018 schedule. The paper (4.1) says "100 epochs"
# but decays the lr "at epoch 120 and 160", which a 100-epoch run never
# reaches. We keep the decay points, the more specific statement, and train
# 180 epochs: the schedule of BBN, the one-stage method ACE compares with on
# both datasets. configs/ace/ace_r50_imagenet-lt_100e.py keeps the
# 100-epoch reading with the decays moved proportionally (67, 89).
#
# lr 0.1 is for a total batch of 256; auto_scale_lr rescales it linearly to
# the real total batch (8 GPUs x 64 = 512 -> 0.2).
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=5e-4))

param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=True, begin=0, end=5,
         convert_to_iter_based=True),
    dict(type='MultiStepLR', by_epoch=True, milestones=[120, 160],
         gamma=0.1),
]

train_cfg = dict(by_epoch=True, max_epochs=180, val_interval=5)
val_cfg = dict()
test_cfg = dict()

auto_scale_lr = dict(base_batch_size=256, enable=True)
