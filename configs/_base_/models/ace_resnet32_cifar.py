# ACE on ResNet-32: the shared trunk is stages 1-2, each expert owns a copy of
# stage 3 (ACEBackbone) and an LWS classifier (ACEHead). Keep
# backbone.num_experts and head.num_experts equal.
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='ACEBackbone',
        backbone=dict(type='CIFARResNet', depth=32),
        num_experts=3),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='ACEHead',
        num_classes=10,
        in_channels=64,
        num_experts=3,
        class_counts='auto'))
