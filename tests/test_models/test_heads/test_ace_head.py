"""ACEBackbone, ACEHead, LWSLinear and ComplementLoss in mmpretrain."""
import sys
import types

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.model import initialize
from mmengine.runner import load_checkpoint
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import mmace  # noqa: F401  (registers the modules)
from mmace.models.backbones import ACEBackbone
from mmace.models.heads import ACEHead, LWSLinear
from mmace.models.losses import ComplementLoss
from mmace.models.utils.ace import aggregate_logits, rescale_factors

# 10 classes, not sorted by index: ranks c2 c8 c5 | c0 c9 c1 | c6 c7 c3 c4.
COUNTS = [50, 30, 90, 10, 10, 70, 20, 20, 80, 40]
TAIL = [3, 4, 6, 7]  # expert 3's targets


def samples(labels):
    return [DataSample().set_gt_label(int(y)) for y in labels]


def ace_cifar(**head):
    head = dict(type='ACEHead', num_classes=10, in_channels=64,
                class_counts=COUNTS, **head)
    return MODELS.build(
        dict(
            type='ImageClassifier',
            backbone=dict(
                type='ACEBackbone',
                backbone=dict(type='CIFARResNet', depth=20),
                num_experts=3),
            neck=dict(type='GlobalAveragePooling'),
            head=head))


# ------------------------------------------------------ LWS and L_com
def test_lws_linear():
    fc = LWSLinear(4, 3)
    assert torch.equal(fc.scale, torch.ones(3))
    initialize(fc, dict(type='Normal', layer='Linear', std=0.01, bias=0.5))
    assert torch.equal(fc.scale, torch.ones(3))  # only weight/bias touched
    assert torch.equal(fc.bias, torch.full((3, ), 0.5))
    with torch.no_grad():
        fc.scale.copy_(torch.tensor([1., 2., 3.]))
    x = torch.randn(5, 4)
    # The bias is not scaled.
    expected = (x @ fc.weight.T) * fc.scale + fc.bias
    assert torch.allclose(fc(x), expected, atol=1e-6)
    assert torch.allclose(fc.effective_weight, fc.scale[:, None] * fc.weight)
    assert MODELS.build(dict(type='LWSLinear', in_features=4,
                             out_features=3)).weight.shape == (3, 4)


def test_complement_loss_by_hand():
    loss = MODELS.build(dict(type='ComplementLoss', loss_weight=0.5))
    logits = torch.tensor([[1., 2., 3.], [4., 5., 6.]], requires_grad=True)
    mask = torch.tensor([False, True, True])  # class 0 is interfering
    # Only sample 1 (label 2) is in the sub-batch: 4^2 / 1, times 0.5.
    assert torch.allclose(loss(logits, torch.tensor([0, 2]), mask),
                          torch.tensor(8.))
    # Both in: (1^2 + 4^2) / 2 * 0.5.
    assert torch.allclose(loss(logits, torch.tensor([1, 2]), mask),
                          torch.tensor(4.25))
    # Soft: sample 0 has 0.5 of its mass in C_i: (0.5 * 1 + 16) / 1.5 * 0.5.
    soft = torch.tensor([[0.5, 0.5, 0.], [0., 0., 1.]])
    assert torch.allclose(loss(logits, soft, mask),
                          torch.tensor(16.5 / 1.5 * 0.5))
    # Empty sub-batch: 0 with a (zero) gradient.
    out = loss(logits, torch.tensor([0, 0]), mask)
    out.backward()
    assert out.item() == 0 and torch.equal(logits.grad, torch.zeros(2, 3))
    # Dense [N, C, H, W] with ignore_index.
    dense = ComplementLoss()(torch.ones(1, 3, 2, 2), torch.tensor(
        [[[1, 255], [0, 2]]]), mask, ignore_index=255)
    assert torch.allclose(dense, torch.tensor(1.))


# ----------------------------------------------------------- backbone
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


# --------------------------------------------------------------- head
def test_head_buffers_and_shares():
    head = ACEHead(10, 8, class_counts=np.array(COUNTS))
    assert head.class_counts.dtype == torch.float32
    assert head.target_masks.shape == (3, 10)
    assert torch.nonzero(head.target_masks[2]).flatten().tolist() == TAIL
    # Expert 2 drops c2, c8, c5 (90 + 80 + 70 of 420 samples); expert 3
    # keeps c3, c4, c6, c7 (10 + 10 + 20 + 20).
    assert torch.allclose(head.expert_shares(),
                          torch.tensor([1., 180 / 420, 60 / 420]))


def test_head_errors():
    with pytest.raises(ValueError, match='num_experts=4.*num_classes=3'):
        ACEHead(3, 8, num_experts=4)
    with pytest.raises(ValueError,
                       match=r'11 classes.*model.head.num_classes=10'):
        ACEHead(10, 8, class_counts=list(range(11)))
    head = ACEHead(10, 8, class_counts='auto')
    feats = tuple(torch.randn(2, 8) for _ in range(3))
    with pytest.raises(RuntimeError, match='LongTailRunner'):
        head.loss(feats, samples([0, 1]))
    with pytest.raises(RuntimeError, match='never provided'):
        head.expert_shares()
    head.set_class_counts(COUNTS)
    with pytest.raises(ValueError, match='backbone.num_experts'):
        head.predict(feats[:2])
    with pytest.raises(ValueError, match="'concat'"):
        ACEHead(10, 8, aggregation='mean')


def test_head_counts_from_dataset_spec(monkeypatch):
    stub = types.ModuleType('mmace.datasets.class_counts')
    stub.resolve_class_counts = lambda spec: np.array(spec['counts'])
    monkeypatch.setitem(sys.modules, 'mmace.datasets.class_counts', stub)
    head = ACEHead(10, 8, class_counts=dict(counts=COUNTS))
    assert head.class_counts.tolist() == COUNTS


def test_head_forward_is_rescaled_group_average():
    head = ACEHead(10, 8, class_counts=COUNTS)
    head.init_weights()
    with torch.no_grad():
        for i, clf in enumerate(head.classifiers):
            clf.scale.mul_(i + 1)
    feats = tuple(torch.randn(4, 8) for _ in range(3))
    z = [clf(x) for clf, x in zip(head.classifiers, feats)]
    w = torch.stack([clf.effective_weight for clf in head.classifiers])
    f = rescale_factors(w, head.target_masks)
    assert torch.allclose(head(feats),
                          aggregate_logits(z, head.target_masks, f))
    head.rescale = None
    assert torch.allclose(head(feats), aggregate_logits(z, head.target_masks))


def test_head_loss_variants():
    feats = tuple(torch.randn(4, 8) for _ in range(3))
    labels = [3, 6, 0, 2]
    head = ACEHead(10, 8, class_counts=COUNTS, cal_acc=True)
    losses = head.loss(feats, samples(labels))
    assert sorted(losses) == [
        'accuracy_top-1', 'loss_cls_e1', 'loss_cls_e2', 'loss_cls_e3',
        'loss_com_e1', 'loss_com_e2', 'loss_com_e3']
    head = ACEHead(10, 8, class_counts=COUNTS,
                   loss=dict(type='ACELoss', com_weight=0., loss_weight=2.))
    base = ACEHead(10, 8, class_counts=COUNTS)
    base.load_state_dict(head.state_dict())
    losses = head.loss(feats, samples(labels))
    assert sorted(losses) == ['loss_cls_e1', 'loss_cls_e2', 'loss_cls_e3']
    assert torch.allclose(losses['loss_cls_e2'],
                          2 * base.loss(feats, samples(labels))['loss_cls_e2'])
    ssc = ACEHead(10, 8, class_counts=COUNTS,
                  loss=dict(type='ACELoss', split_specific=True))
    assert not any('com' in k for k in ssc.loss(feats, samples(labels)))
    # Mixup scores: sample 0 = 0.6 * class 3 (expert 3) + 0.4 * class 2.
    mixed = samples(labels)
    for s, y in zip(mixed, labels):
        s.set_gt_score(nn.functional.one_hot(torch.tensor(y), 10).float())
    mixed[0].set_gt_score(torch.zeros(10).index_fill(0, torch.tensor(3), .6)
                          .index_fill(0, torch.tensor(2), .4))
    losses = base.loss(feats, mixed)
    assert all(torch.isfinite(v) for v in losses.values())


def test_image_classifier_loss_and_predict():
    model = ace_cifar(return_expert_scores=True)
    model.init_weights()
    x = torch.randn(2, 3, 32, 32)
    losses = model(x, samples([3, 2]), mode='loss')
    assert len([k for k in losses if k.startswith('loss_')]) == 6
    assert all(torch.isfinite(v) for v in losses.values())
    model.eval()
    with torch.no_grad():
        preds = model(x, samples([3, 2]), mode='predict')
    for p in preds:
        assert torch.allclose(p.pred_score.sum(), torch.tensor(1.))
        assert p.pred_label.item() == p.pred_score.argmax().item()
        scores = p.expert_scores
        assert scores.shape == (3, 10)
        assert torch.allclose(scores.sum(1), torch.ones(3))
        # Expert 3 never predicts a class outside its targets (Table 5).
        outside = [c for c in range(10) if c not in TAIL]
        assert torch.equal(scores[2, outside], torch.zeros(len(outside)))


def test_state_dict_round_trip(tmp_path):
    model = ace_cifar()
    state = model.state_dict()
    assert 'head.class_counts' in state and 'head.target_masks' in state
    torch.save(dict(state_dict=state), tmp_path / 'ace.pth')
    restored = MODELS.build(
        dict(
            type='ImageClassifier',
            backbone=dict(
                type='ACEBackbone',
                backbone=dict(type='CIFARResNet', depth=20)),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(type='ACEHead', num_classes=10, in_channels=64,
                      class_counts='auto')))
    with pytest.raises(RuntimeError, match='never provided'):
        restored.head.expert_shares()
    # mmengine's loader, as used by the runner and the inferencer.
    load_checkpoint(restored, str(tmp_path / 'ace.pth'))
    assert restored.head.class_counts.tolist() == COUNTS
    assert torch.equal(restored.head.target_masks, model.head.target_masks)
    assert torch.allclose(restored.head.expert_shares(),
                          model.head.expert_shares())
    model.eval()
    restored.eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        a = model(x, mode='predict')
        b = restored(x, mode='predict')
    assert torch.allclose(a[0].pred_score, b[0].pred_score)


def test_head_loss_is_its_clshead_loss_module():
    """ACEHead goes through ClsHead.__init__: ``loss_module`` is the ACE
    loss, and a bare ``loss=dict(...)`` defaults to ``type='ACELoss'``."""
    from mmace.models.losses import ACELoss
    head = ACEHead(10, 8, class_counts=COUNTS,
                   loss=dict(complement_form='norm', com_weight=0.5))
    assert isinstance(head.loss_module, ACELoss)
    assert head.loss_module.complement_form == 'norm'
    assert head.loss_module.com_weight == 0.5
    assert 'loss_module' not in ''.join(head.state_dict())  # no weights


def test_head_pre_logits_is_one_tensor():
    """mmpretrain's contract: ``extract_feat(stage='pre_logits')`` is one
    tensor; for ACE the K expert features side by side."""
    head = ACEHead(10, 8, class_counts=COUNTS)
    feats = tuple(torch.randn(4, 8) for _ in range(3))
    assert torch.equal(head.pre_logits(feats), torch.cat(feats, dim=1))


@pytest.mark.parametrize('legacy, expected', [
    (dict(complement_loss=None), dict(com_weight=0.0)),
    (dict(complement_loss=dict(type='ComplementLoss', loss_weight=0.3)),
     dict(com_weight=0.3)),
    (dict(loss_weight=2.0), dict(loss_weight=2.0)),
    (dict(split_specific=True), dict(split_specific=True)),
])
def test_deprecated_loss_keywords_still_work(legacy, expected):
    with pytest.warns(DeprecationWarning, match='is deprecated; use loss='):
        head = ACEHead(10, 8, class_counts=COUNTS, **legacy)
    for key, value in expected.items():
        assert getattr(head.loss_module, key) == value


def test_complement_loss_of_another_type_is_refused():
    with pytest.raises(ValueError, match='is not a ComplementLoss'):
        ACEHead(10, 8, class_counts=COUNTS,
                complement_loss=dict(type='CrossEntropyLoss'))


def test_readout_expert_predicts_with_one_expert_alone():
    """The diagnosis switch shared with the det and seg heads."""
    feats = tuple(torch.randn(6, 8) for _ in range(3))
    head = ACEHead(10, 8, class_counts=COUNTS, readout_expert=3)
    head.init_weights()
    full = ACEHead(10, 8, class_counts=COUNTS)
    full.load_state_dict(head.state_dict())
    z3 = head.expert_logits(feats)[2]
    scores = head(feats)
    masks = head.target_masks
    # Expert 3's own logits on its classes, never one of the others.
    assert torch.equal(scores[:, masks[2]], z3[:, masks[2]])
    assert masks[2][scores.argmax(dim=1)].all()
    assert not torch.allclose(scores, full(feats))
    with pytest.raises(ValueError, match='readout_expert=4 must be between'):
        ACEHead(10, 8, class_counts=COUNTS, readout_expert=4)
    with pytest.raises(ValueError, match='not for readout_expert'):
        head.switch_to_deploy()
