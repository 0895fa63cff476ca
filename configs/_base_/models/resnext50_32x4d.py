# mmpretrain's ResNeXt-50 (32x4d), unchanged.
_base_ = 'mmpretrain::_base_/models/resnext50_32x4d.py'
