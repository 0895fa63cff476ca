# ACE as its authors ran it (github winterxx/ACE,
# configs/inat_baseline_res50.yaml): iNaturalist 2018, ResNet-50.
# Paper Table 3: 72.9 top-1. The ImageNet-LT ResNet-50 recipe (see
# ace-authors_r50_imagenet-lt.py) with lr 0.1 for a total batch of 512.
_base_ = ['../ace_r50_inat2018.py', '../../_base_/ace_authors.py']

model = dict(head=dict(_base_.authors_head, share_thresholds=[0.4, 0.1]))
optim_wrapper = dict(optimizer=dict(lr=0.1, weight_decay=1e-4))
param_scheduler = _base_.authors_imagenet_param_scheduler
train_cfg = dict(max_epochs=220)
auto_scale_lr = dict(base_batch_size=512)
