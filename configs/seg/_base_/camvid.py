# CamVid, 11 classes (void -> ignore 255), at its native 480x360.
# Symlink your copy as data/camvid (train/, trainannot/, val/, valannot/,
# test/, testannot/).
dataset_type = 'CamVidDataset'
data_root = 'data/camvid'
crop_size = (360, 480)  # (h, w)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(
        type='RandomResize',
        scale=(480, 360),  # (w, h)
        ratio_range=(0.5, 2.0),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(480, 360), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]
train_dataloader = dict(
    batch_size=4,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='train', seg_map_path='trainannot'),
        pipeline=train_pipeline))
# Full images, one at a time, in order.
val_dataloader = dict(
    train_dataloader,
    batch_size=1,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        train_dataloader['dataset'],
        data_prefix=dict(img_path='val', seg_map_path='valannot'),
        pipeline=test_pipeline))
test_dataloader = dict(
    val_dataloader,
    dataset=dict(
        val_dataloader['dataset'],
        data_prefix=dict(img_path='test', seg_map_path='testannot')))
# mIoU + mIoU_frequent / _common / _rare (training pixel share >= 5 %,
# 1-5 %, < 1 %); class_counts='auto' is filled by LongTailRunner.
val_evaluator = dict(
    type='LongTailIoUMetric', iou_metrics=['mIoU'], class_counts='auto')
test_evaluator = val_evaluator
