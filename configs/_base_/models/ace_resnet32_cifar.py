# ACE on ResNet-32: the shared trunk is stages 1-2, each expert owns a copy of
# stage 3 (ACEBackbone) and an LWS classifier (ACEHead). Keep
# backbone.num_experts and head.num_experts equal.
_base_ = './ace_resnet10.py'

model = dict(
    backbone=dict(backbone=dict(type='CIFARResNet', depth=32)),
    head=dict(num_classes=10, in_channels=64))
