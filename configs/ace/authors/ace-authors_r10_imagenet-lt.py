# ACE as its authors ran it (github winterxx/ACE,
# configs/imagenetlt_baseline_res10.yaml): ImageNet-LT, ResNet-10, 3 experts.
# Paper Table 3: 44.0 top-1.
# Differs from ../ace_r10_imagenet-lt.py in the planner (sample shares
# [0.4, 0.1]), the complement-loss form, the Eq. 2 read-out (see
# ace-authors_r32_cifar10-lt-100.py) and the recipe: 180 epochs with Mixup +
# 20 without, lr 0.08 for a total batch of 256 (auto_scale_lr rescales it),
# weight decay 1e-4, x0.1 at 120 and 160, 5 warm-up epochs. The yaml also
# lists a colour jitter in its train transforms (its parameters live in code
# the repository does not include), which this config does not add.
_base_ = ['../ace_r10_imagenet-lt.py', '../../_base_/ace_authors.py']

model = dict(head=dict(_base_.authors_head, share_thresholds=[0.4, 0.1]))
optim_wrapper = dict(optimizer=dict(lr=0.08, weight_decay=1e-4))
# Their ResNet-50 schedule, but x0.1 at epochs 120 and 160 (of 200).
param_scheduler = [
    _base_.authors_imagenet_param_scheduler[0],
    dict(_base_.authors_imagenet_param_scheduler[1], milestones=[120, 160]),
]
train_cfg = dict(max_epochs=200)
