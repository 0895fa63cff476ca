# Stock Faster R-CNN R-18-FPN trained FROM SCRATCH on one CPU (no weights can
# be downloaded here): coco-lt-mini at 320 px, batch 2, SGD. The ACE twin,
# ace_faster-rcnn_r18_fpn_coco-lt-mini_cpu.py, differs only in the box head.
#
# Validation converts the ground truth of the evaluated images themselves
# (val_evaluator.ann_file=None, 'instances' packed into the samples), so any
# subset works, e.g. the 16-image overfit check:
#   --cfg-options train_dataloader.dataset.indices=16 \
#       val_dataloader.dataset.indices=16 \
#       val_dataloader.dataset.ann_file=annotations/instances_train.json
# (or the *_overfit16.py configs). Boxes are COCO's, so AP over all areas
# equals the ann_file one; the s/m/l split uses box instead of mask areas.
_base_ = './faster-rcnn_r50_fpn_1x_coco-lt-mini.py'

model = dict(
    backbone=dict(
        depth=18,
        frozen_stages=-1,  # from scratch: train the stem too
        norm_eval=False,
        init_cfg=None),
    neck=dict(in_channels=[64, 128, 256, 512], out_channels=128),
    rpn_head=dict(in_channels=128, feat_channels=128),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=128),
        bbox_head=dict(in_channels=128, fc_out_channels=512)),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=1000, max_per_img=500),
        rcnn=dict(sampler=dict(num=256))),
    test_cfg=dict(rpn=dict(nms_pre=1000, max_per_img=500)))

img_scale = (320, 320)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor', 'instances'))
]
train_dataloader = dict(
    batch_size=2,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(train_dataloader, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

val_evaluator = dict(ann_file=None)
test_evaluator = val_evaluator

# 288 training images = 144 iterations per epoch.
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=12, val_interval=12)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0,
         end=200),
    dict(type='MultiStepLR', begin=0, end=12, by_epoch=True,
         milestones=[9, 11], gamma=0.1)
]
# Gradient clipping (from the R-50 config): without it the ACE experts'
# complement loss (Eq. 5, squared logits on unnormalised from-scratch RoI
# features) diverged to NaN within 40 iterations at lr 0.01; with it both
# twins train.
optim_wrapper = dict(optimizer=dict(lr=0.01))
auto_scale_lr = dict(enable=False, base_batch_size=2)

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(type='CheckpointHook', interval=12, max_keep_ckpts=1))
log_processor = dict(window_size=10)
env_cfg = dict(dist_cfg=dict(backend='gloo'))
