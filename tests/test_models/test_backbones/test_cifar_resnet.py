"""CIFARResNet: the CIFAR ResNets of He et al. (ResNet-32 etc.).

Stage shapes, strides, parameter counts and training behaviour, shared with
ResNet10: test_basic_block_resnets.py."""
import pytest
import torch
from mmpretrain.models.backbones.resnet import BasicBlock
from torch import nn

from mmace.models.backbones import CIFARResNet


@pytest.mark.parametrize('depth,n', [(20, 3), (32, 5), (44, 7), (56, 9),
                                     (110, 18)])
def test_depth_is_6n_plus_2(depth, n):
    model = CIFARResNet(depth=depth)
    assert model.res_layers == ['layer1', 'layer2', 'layer3']
    for i, layer_name in enumerate(model.res_layers):
        layer = getattr(model, layer_name)
        assert isinstance(layer, nn.Sequential) and len(layer) == n
        assert all(isinstance(block, BasicBlock) for block in layer)
        assert layer[-1].out_channels == 16 * 2**i
    # 2 convs per block + stem conv + the FC layer = depth.
    assert 2 * 3 * n + 2 == depth


def test_the_cifar_stem_keeps_the_resolution():
    model = CIFARResNet()
    assert model.depth == 32 and model.out_indices == (2, )
    assert not hasattr(model, 'maxpool')
    assert model.conv1.kernel_size == (3, 3) and model.conv1.stride == (1, 1)
    assert model.conv1.out_channels == 16


def test_projection_shortcuts_are_the_only_difference_from_option_a():
    # He et al.'s option-A ResNet-32 has 463,504 backbone parameters; the
    # two 1x1-conv + BN projections add 16*32 + 64 + 32*64 + 128 = 2,752.
    model = CIFARResNet(depth=32)
    projections = [m.downsample for m in model.modules()
                   if isinstance(m, BasicBlock) and m.downsample is not None]
    assert len(projections) == 2
    extra = sum(p.numel() for d in projections for p in d.parameters())
    assert extra == 2_752
    assert sum(p.numel() for p in model.parameters()) - extra == 463_504


def test_bad_arguments_name_the_culprit():
    with pytest.raises(KeyError, match=r'depth=18.*\[20, 32, 44, 56, 110\]'):
        CIFARResNet(depth=18)
    with pytest.raises(ValueError, match='num_stages=4'):
        CIFARResNet(num_stages=4)
    with pytest.raises(ValueError, match='strides'):
        CIFARResNet(strides=(1, 2))
    with pytest.raises(ValueError, match='out_indices'):
        CIFARResNet(out_indices=(3, ))


def test_residual_branches_start_at_zero():
    # mmpretrain's default zero-initialises the last BN of each block, so
    # each block starts as its shortcut.
    model = CIFARResNet(depth=20)
    model.init_weights()
    blocks = [m for m in model.modules() if isinstance(m, BasicBlock)]
    assert len(blocks) == 9
    assert all(torch.all(b.norm2.weight == 0) for b in blocks)
    block = model.layer1[0].eval()
    x = torch.rand(1, 16, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(block(x), torch.relu(x))
