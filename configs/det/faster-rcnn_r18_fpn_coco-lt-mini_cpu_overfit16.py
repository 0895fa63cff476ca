# Overfit check: the CPU config trained on a FIXED 16-image subset of the
# train split (the first 16 images of instances_train.json, 72 instances;
# all have boxes, so the filtered training subset and the unfiltered
# evaluation subset are the same images) and evaluated on those same 16
# images. No flip. ~0.85 s/iteration at OMP_NUM_THREADS=1, so the 1600
# iterations take ~23 min of one core (plus ~5 s of evaluation).
# class_counts='auto' counts these 16 images (the training set).
_base_ = './faster-rcnn_r18_fpn_coco-lt-mini_cpu.py'

# The base pipeline without the flip.
train_pipeline = [
    t for t in _base_.train_pipeline if t['type'] != 'RandomFlip']
train_dataloader = dict(
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(indices=16, pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(ann_file='annotations/instances_train.json', indices=16))
test_dataloader = val_dataloader

# 8 iterations per epoch.
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=200, val_interval=50)
param_scheduler = [
    dict(_base_.param_scheduler[0], end=100),
    dict(_base_.param_scheduler[1], end=200, milestones=[150, 180]),
]
optim_wrapper = dict(optimizer=dict(lr=0.02))
default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', interval=200, max_keep_ckpts=1))
