"""ResNet10: the ResNet-10 of the ImageNet-LT literature."""
import pytest
import torch
from torch import nn

from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from mmace.models.backbones import ResNet10


def _num_params(module):
    return sum(p.numel() for p in module.parameters())


def test_resnet10_forward_and_params():
    model = ResNet10()
    assert model.depth == 10 and model.stage_blocks == (1, 1, 1, 1)
    assert model.res_layers == ['layer1', 'layer2', 'layer3', 'layer4']
    last = getattr(model, model.res_layers[-1])
    assert isinstance(last, nn.Sequential) and len(last) == 1
    assert isinstance(model.maxpool, nn.MaxPool2d)
    assert model.conv1.kernel_size == (7, 7)
    model.eval()
    outs = model(torch.rand(2, 3, 224, 224))
    assert len(outs) == 1 and outs[0].shape == (2, 512, 7, 7)

    model = ResNet10(out_indices=(0, 1, 2, 3))
    model.eval()
    outs = model(torch.rand(2, 3, 224, 224))
    assert [o.shape for o in outs] == [(2, 64, 56, 56), (2, 128, 28, 28),
                                       (2, 256, 14, 14), (2, 512, 7, 7)]

    # stem 9,536 + stages 73,984 + 230,144 + 919,040 + 3,673,088
    assert _num_params(ResNet10()) == 4_905_792
    assert _num_params(ResNet10()) == pytest.approx(4.9e6, rel=0.01)


def test_resnet10_other_depths_and_bad_depth():
    assert ResNet10(depth=18).stage_blocks == (2, 2, 2, 2)
    with pytest.raises(KeyError, match=r'depth=12.*\[10, 18, 34'):
        ResNet10(depth=12)


@pytest.mark.parametrize('cfg', [
    dict(type='ResNet10', frozen_stages=1),
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


@pytest.mark.parametrize('backbone,in_channels,size', [
    (dict(type='ResNet10'), 512, 224),
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
