# ACE as its authors ran it (github winterxx/ACE,
# configs/inat_baseline_res50.yaml): iNaturalist 2018, ResNet-50.
# Paper Table 3: 72.9 top-1. The ImageNet-LT ResNet-50 recipe (see
# ace-authors_r50_imagenet-lt.py) with lr 0.1 for a total batch of 512.
_base_ = ['../ace_r50_inat2018.py']

model = dict(
    head=dict(
        planner='share',
        share_thresholds=[0.4, 0.1],
        loss=dict(type='ACELoss', complement_form='norm'),
        rescale='plain',
        norm_reduce='mean',
        rescale_inverse=True,
        norm_weight='raw'))

optim_wrapper = dict(optimizer=dict(lr=0.1, weight_decay=1e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.2, by_epoch=True, begin=0, end=5,
         convert_to_iter_based=True),
    dict(type='MultiStepLR', by_epoch=True, milestones=[140, 180],
         gamma=0.1),
]
train_cfg = dict(max_epochs=220)
auto_scale_lr = dict(base_batch_size=512)
