# scikit-learn's bundled handwritten digits (real 8x8 scans, no download),
# made long-tailed with mmace's exponential profile. The first 50 images of
# each class form the balanced test set.
data_preprocessor = dict(
    num_classes=10, mean=[78.0] * 3, std=[96.0] * 3, to_rgb=False)

train_pipeline = [
    dict(type='RandomCrop', crop_size=8, padding=1),
    dict(type='PackInputs'),
]
test_pipeline = [dict(type='PackInputs')]

# In-process loading (the images are tiny); mmpretrain's tools/train.py
# defaults to persistent_workers=True, which needs worker processes.
train_dataloader = dict(
    batch_size=32,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type='LongTailDataset',
        imb_factor=10,
        # The head class '0' has 128 training images (the largest class,
        # '3', has 133): every class's target fits its images.
        max_per_class=128,
        seed=0,
        dataset=dict(type='LTDigits', split='train',
                     pipeline=train_pipeline)))

# The balanced test images, in order, without the long-tail wrapper.
val_dataloader = dict(
    train_dataloader,
    batch_size=100,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='LTDigits', split='test', test_mode=True,
                 pipeline=test_pipeline))
val_evaluator = dict(type='LongTailAccuracy', topk=(1, ), class_counts='auto')

test_dataloader = val_dataloader
test_evaluator = val_evaluator
