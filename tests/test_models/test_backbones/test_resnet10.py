"""ResNet10: the ResNet-10 of the ImageNet-LT literature.

Stage shapes, strides, parameter counts and training behaviour, shared with
CIFARResNet: test_basic_block_resnets.py."""
import pytest
from torch import nn

from mmace.models.backbones import ResNet10


def test_one_basic_block_per_stage_after_the_imagenet_stem():
    model = ResNet10()
    assert model.depth == 10 and model.stage_blocks == (1, 1, 1, 1)
    assert model.res_layers == ['layer1', 'layer2', 'layer3', 'layer4']
    assert all(len(getattr(model, n)) == 1 for n in model.res_layers)
    assert isinstance(model.maxpool, nn.MaxPool2d)
    assert model.conv1.kernel_size == (7, 7) and model.conv1.stride == (2, 2)
    # stem 9,536 + stages 73,984 + 230,144 + 919,040 + 3,673,088
    assert sum(p.numel() for p in model.parameters()) == 4_905_792


def test_other_depths_and_bad_depth():
    assert ResNet10(depth=18).stage_blocks == (2, 2, 2, 2)
    with pytest.raises(KeyError, match=r'depth=12.*\[10, 18, 34'):
        ResNet10(depth=12)
