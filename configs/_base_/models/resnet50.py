# mmpretrain's ResNet-50, unchanged.
_base_ = 'mmpretrain::_base_/models/resnet50.py'
