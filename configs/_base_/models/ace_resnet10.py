# ACE on ResNet-10: stages 1-3 shared, each expert owns a copy of stage 4.
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='ACEBackbone', backbone=dict(type='ResNet10'), num_experts=3),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='ACEHead',
        num_classes=1000,
        in_channels=512,
        num_experts=3,
        class_counts='auto'))
