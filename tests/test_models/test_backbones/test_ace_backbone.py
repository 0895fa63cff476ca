"""ACEBackbone: shared trunk, K expert copies of the last stage."""
import pytest
import torch
import torch.nn as nn
from mmpretrain.registry import MODELS

import mmace  # noqa: F401  (registers the modules)
from conftest import ace_cifar_model, samples
from mmace.models.backbones import ACEBackbone


# 10 classes, not sorted by index: ranks c2 c8 c5 | c0 c9 c1 | c6 c7 c3 c4.
COUNTS = [50, 30, 90, 10, 10, 70, 20, 20, 80, 40]


def ace_cifar(**head):
    return ace_cifar_model(COUNTS, **head)


R32 = dict(type='CIFARResNet', depth=32)


@pytest.mark.parametrize('kwargs, error, match', [
    (dict(num_experts='3'), TypeError, r"num_experts='3' must be an integer"),
    (dict(num_blocks='1'), TypeError, r"num_blocks='1' must be an integer"),
    (dict(detach_experts='no'), TypeError, r"detach_experts='no'"),
])
def test_backbone_option_types(kwargs, error, match):
    with pytest.raises(error, match='ACEBackbone: ' + match):
        ACEBackbone(R32, **kwargs)
    # None still means "the whole last stage".
    assert ACEBackbone(R32, num_blocks=None).num_blocks == 5


def test_gradient_routing():
    model = ace_cifar()
    model.init_weights()
    x = torch.randn(4, 3, 32, 32)
    labels = [3, 6, 0, 2]  # two samples in every expert's sub-batch
    trunk = list(model.backbone.trunk.parameters())

    def grads(key_part, params):
        model.zero_grad()
        losses = model(x, samples(labels), mode='loss')
        sum(v for k, v in losses.items() if key_part in k).backward()
        return [torch.zeros_like(p) if p.grad is None else p.grad
                for p in params]

    # Expert 2's loss alone: exactly zero in the trunk, non-zero in itself.
    assert all(g.abs().sum() == 0 for g in grads('_e2', trunk))
    own = list(model.backbone.experts[1].parameters())
    assert sum(g.abs().sum() for g in grads('_e2', own)) > 0
    # Expert 1's loss reaches the trunk.
    assert sum(g.abs().sum() for g in grads('_e1', trunk)) > 0
    # Ablation: without detaching, expert 2 updates the trunk too.
    model.backbone.detach_experts = False
    assert sum(g.abs().sum() for g in grads('_e2', trunk)) > 0


@pytest.mark.parametrize('cfg, channels', [
    (dict(type='ResNet', depth=18), 512),
    (dict(type='ResNet', depth=50), 2048),
    (dict(type='ResNeXt', depth=50), 2048),
    (dict(type='ResNet_CIFAR', depth=18), 512),
])
def test_backbone_builds_and_experts_differ(cfg, channels):
    bb = ACEBackbone(cfg, num_experts=3)
    assert bb.trunk.res_layers == ['layer1', 'layer2', 'layer3']
    assert not hasattr(bb.trunk, 'layer4') and bb.trunk.out_indices == (2, )
    bb.init_weights()
    first = [m for m in bb.experts[0][0].modules()
             if isinstance(m, nn.Conv2d)][0]
    for expert in bb.experts[1:]:
        other = [m for m in expert[0].modules() if isinstance(m, nn.Conv2d)]
        assert not torch.equal(first.weight, other[0].weight)
    # zero_init_residual reached the experts (last norm of each block).
    last = bb.experts[2][-1]
    norm = last.norm3 if hasattr(last, 'norm3') else last.norm2
    assert torch.equal(norm.weight, torch.zeros_like(norm.weight))
    bb.eval()
    with torch.no_grad():
        outs = bb(torch.randn(1, 3, 64, 64))
    size = 8 if cfg['type'] == 'ResNet_CIFAR' else 2
    assert len(outs) == 3
    assert all(o.shape == (1, channels, size, size) for o in outs)


def test_num_blocks_and_norm_eval():
    bb = ACEBackbone(
        dict(type='ResNet', depth=18, norm_eval=True), num_experts=2,
        num_blocks=1)
    # layer4 keeps its first block in the trunk; experts own one block each.
    assert bb.trunk.res_layers[-1] == 'layer4' and len(bb.trunk.layer4) == 1
    assert bb.trunk.out_indices == (3, )
    assert [len(e) for e in bb.experts] == [1, 1]
    bb.train()
    assert not any(m.training for m in bb.experts.modules()
                   if isinstance(m, nn.BatchNorm2d))
    outs = bb(torch.randn(2, 3, 64, 64))
    assert [tuple(o.shape) for o in outs] == [(2, 512, 2, 2)] * 2


def test_pretrained_trunk_fills_experts(tmp_path):
    src = MODELS.build(dict(type='ResNet', depth=18))
    path = tmp_path / 'r18.pth'
    torch.save(dict(state_dict=src.state_dict()), path)
    bb = ACEBackbone(
        dict(type='ResNet', depth=18,
             init_cfg=dict(type='Pretrained', checkpoint=str(path))),
        num_experts=2, num_blocks=1)
    bb.init_weights()
    for expert in bb.experts:  # expert block 0 <- layer4.1
        assert torch.equal(expert[0].conv1.weight, src.layer4[1].conv1.weight)
    assert torch.equal(bb.trunk.layer4[0].conv1.weight,
                       src.layer4[0].conv1.weight)


def test_backbone_errors():
    with pytest.raises(ValueError, match='num_experts=0'):
        ACEBackbone(dict(type='ResNet', depth=18), num_experts=0)
    for n in (0, 3):
        with pytest.raises(ValueError, match=f'num_blocks={n}.*2 blocks'):
            ACEBackbone(dict(type='ResNet', depth=18), num_blocks=n)
    with pytest.raises(ValueError, match='frozen_stages'):
        ACEBackbone(dict(type='ResNet', depth=18, frozen_stages=4))
    vit = dict(type='VisionTransformer', arch='deit-tiny', img_size=32,
               patch_size=16)
    with pytest.raises(ValueError,
                       match='cannot split the last stage of '
                       'VisionTransformer'):
        ACEBackbone(vit)
