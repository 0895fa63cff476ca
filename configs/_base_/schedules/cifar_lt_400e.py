# Paper 4.1, CIFAR-LT: SGD momentum 0.9, lr 0.1 at batch 128, 400 epochs,
# x0.1 at epochs 320 and 360. Not given in the paper, our choice:
# weight decay 2e-4 and a 5-epoch linear warm-up (the LDAM-DRW CIFAR-LT
# protocol the paper's baselines follow).
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=2e-4))

param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=True, begin=0, end=5,
         convert_to_iter_based=True),
    dict(type='MultiStepLR', by_epoch=True, milestones=[320, 360],
         gamma=0.1),
]

train_cfg = dict(by_epoch=True, max_epochs=400, val_interval=10)
val_cfg = dict()
test_cfg = dict()

auto_scale_lr = dict(base_batch_size=128)
