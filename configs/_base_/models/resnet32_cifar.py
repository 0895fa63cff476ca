# ResNet-32 for 32x32 inputs (He et al. 2016, CIFAR variant) with a linear
# classifier: the ResNet-10 model with another backbone and 10 classes.
_base_ = './resnet10.py'

model = dict(
    backbone=dict(type='CIFARResNet', depth=32),
    head=dict(num_classes=10, in_channels=64))
