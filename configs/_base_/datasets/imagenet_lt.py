# ImageNet-LT (Liu et al. 2019): 115.8K training images over 1000 classes
# (1280..5 per class). data/imagenet holds the ImageNet-2012 train/ folder and
# the three split lists. The val list selects the model (best checkpoint),
# the test list is what papers report: tools/test.py uses it.
data_root = 'data/imagenet'
data_preprocessor = dict(
    num_classes=1000,
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)

# Paper 4.1: resize to 256x256, random 224 crop, horizontal flip.
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(256, 256)),
    dict(type='RandomCrop', crop_size=224),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
# Keep the aspect ratio: shorter side to 256, then a 224 center crop.
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=256, edge='short'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]

train_dataloader = dict(
    batch_size=64,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type='LTListDataset',
        data_root=data_root,
        ann_file='ImageNet_LT_train.txt',
        num_classes=1000,
        pipeline=train_pipeline))
# The same loader in test mode, in order, on the val list.
val_dataloader = dict(
    train_dataloader,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        train_dataloader['dataset'],
        ann_file='ImageNet_LT_val.txt',
        test_mode=True,
        pipeline=test_pipeline))
val_evaluator = dict(
    type='LongTailAccuracy', topk=(1, 5), class_counts='auto')

# The same as val, on the test list.
test_dataloader = dict(
    val_dataloader,
    dataset=dict(val_dataloader['dataset'], ann_file='ImageNet_LT_test.txt'))
test_evaluator = val_evaluator
