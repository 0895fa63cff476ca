# CIFAR-10-LT (Cao et al. 2019 exponential profile) on data/cifar10, which may
# hold the official python pickle or a <split>/<class>/*.png|jpg tree.
data_root = 'data/cifar10'
data_preprocessor = dict(
    num_classes=10,
    mean=[125.307, 122.961, 113.8575],
    std=[51.5865, 50.847, 51.255],
    to_rgb=False)  # both source formats already give RGB arrays

train_pipeline = [
    dict(type='RandomCrop', crop_size=32, padding=4),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [dict(type='PackInputs')]

train_dataloader = dict(
    batch_size=128,
    num_workers=2,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type='LongTailDataset',
        imb_factor=100,
        seed=0,
        dataset=dict(
            type='CIFAR10Auto',
            data_root=data_root,
            split='train',
            pipeline=train_pipeline)))

# The balanced test split, in order, without the long-tail wrapper.
val_dataloader = dict(
    train_dataloader,
    batch_size=256,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        train_dataloader['dataset']['dataset'],
        split='test',
        test_mode=True,
        pipeline=test_pipeline))
val_evaluator = dict(type='LongTailAccuracy', topk=(1, ), class_counts='auto')

test_dataloader = val_dataloader
test_evaluator = val_evaluator
