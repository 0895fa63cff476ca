"""CIFARResNet: the CIFAR ResNets of He et al. (ResNet-32 etc.)."""
import pytest
import torch
from torch import nn

from mmpretrain.models.backbones.resnet import BasicBlock
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from mmace.models.backbones import CIFARResNet


def _num_params(module):
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize('depth,n', [(20, 3), (32, 5), (44, 7), (56, 9),
                                     (110, 18)])
def test_cifar_resnet_depths(depth, n):
    model = CIFARResNet(depth=depth)
    assert model.res_layers == ['layer1', 'layer2', 'layer3']
    for i, layer_name in enumerate(model.res_layers):
        layer = getattr(model, layer_name)
        assert isinstance(layer, nn.Sequential) and len(layer) == n
        assert all(isinstance(block, BasicBlock) for block in layer)
        assert layer[-1].out_channels == 16 * 2**i
    # 2 convs per block + stem conv + the FC layer = depth.
    assert 2 * 3 * n + 2 == depth


def test_cifar_resnet_forward_and_params():
    model = CIFARResNet()
    assert model.depth == 32
    assert not hasattr(model, 'maxpool')
    assert model.conv1.kernel_size == (3, 3) and model.conv1.stride == (1, 1)
    model.eval()
    outs = model(torch.rand(2, 3, 32, 32))
    assert len(outs) == 1 and outs[0].shape == (2, 64, 8, 8)

    model = CIFARResNet(depth=32, out_indices=(0, 1, 2))
    model.eval()
    outs = model(torch.rand(2, 3, 32, 32))
    assert [o.shape for o in outs] == [(2, 16, 32, 32), (2, 32, 16, 16),
                                       (2, 64, 8, 8)]

    # He et al.'s option-A ResNet-32 has 463,504 backbone parameters; the
    # two 1x1-conv + BN projections add 16*32 + 64 + 32*64 + 128 = 2,752.
    assert _num_params(CIFARResNet(depth=32)) == 466_256
    fc = nn.Linear(64, 10)
    total = _num_params(CIFARResNet(depth=32)) + _num_params(fc)
    assert total == pytest.approx(0.46e6, rel=0.02)  # "0.46M" in the paper
    assert _num_params(CIFARResNet(depth=110)) == pytest.approx(
        1.7e6, rel=0.03)


def test_cifar_resnet_bad_args():
    with pytest.raises(KeyError, match=r'depth=18.*\[20, 32, 44, 56, 110\]'):
        CIFARResNet(depth=18)
    with pytest.raises(ValueError, match='num_stages=4'):
        CIFARResNet(num_stages=4)
    with pytest.raises(ValueError, match='strides'):
        CIFARResNet(strides=(1, 2))
    with pytest.raises(ValueError, match='out_indices'):
        CIFARResNet(out_indices=(3, ))


@pytest.mark.parametrize('cfg', [
    dict(type='CIFARResNet', depth=20, frozen_stages=1),
])
def test_frozen_stages(cfg):
    model = MODELS.build(cfg)
    model.train()
    frozen = [model.conv1, model.norm1, model.layer1]
    for module in frozen:
        assert all(not p.requires_grad for p in module.parameters())
    assert not model.norm1.training and not model.layer1[0].norm1.training
    assert all(p.requires_grad for p in model.layer2.parameters())
    assert model.layer2.training


def test_norm_eval_and_zero_init_residual():
    model = CIFARResNet(depth=20, norm_eval=True)
    model.init_weights()
    model.train()
    assert not model.layer3[0].norm1.training
    # mmpretrain's default zero-initialises the last BN of each block.
    assert torch.all(model.layer1[0].norm2.weight == 0)


@pytest.mark.parametrize('backbone,in_channels,size', [
    (dict(type='CIFARResNet', depth=20), 64, 32),
])
def test_in_image_classifier(backbone, in_channels, size):
    model = MODELS.build(
        dict(
            type='ImageClassifier',
            backbone=backbone,
            neck=dict(type='GlobalAveragePooling'),
            head=dict(
                type='LinearClsHead',
                num_classes=10,
                in_channels=in_channels,
                loss=dict(type='CrossEntropyLoss'))))
    model.init_weights()
    inputs = torch.rand(2, 3, size, size)
    data_samples = [DataSample().set_gt_label(i) for i in (3, 7)]

    model.train()
    losses = model(inputs, data_samples, mode='loss')
    assert losses['loss'].ndim == 0 and torch.isfinite(losses['loss'])
    losses['loss'].backward()
    assert model.backbone.conv1.weight.grad is not None

    model.eval()
    with torch.no_grad():
        preds = model(inputs, data_samples, mode='predict')
    assert len(preds) == 2
    assert preds[0].pred_score.shape == (10, )
    assert preds[0].pred_score.sum().item() == pytest.approx(1., abs=1e-5)
