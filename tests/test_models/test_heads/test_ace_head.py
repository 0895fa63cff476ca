"""ACEHead in mmpretrain: buffers, forward, losses, options, deploy."""
import sys
import types

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.runner import load_checkpoint
from mmpretrain.registry import MODELS

import mmace  # noqa: F401  (registers the modules)
from conftest import ace_cifar_model, samples
from mmace.models.heads import ACEHead
from mmace.models.ace import aggregate_logits, rescale_factors

# 10 classes, not sorted by index: ranks c2 c8 c5 | c0 c9 c1 | c6 c7 c3 c4.
COUNTS = [50, 30, 90, 10, 10, 70, 20, 20, 80, 40]
TAIL = [3, 4, 6, 7]  # expert 3's targets


def ace_cifar(**head):
    return ace_cifar_model(COUNTS, **head)


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
                   loss=dict(type='ACELoss', complement=None, loss_weight=2.))
    base = ACEHead(10, 8, class_counts=COUNTS)
    base.load_state_dict(head.state_dict())
    losses = head.loss(feats, samples(labels))
    assert sorted(losses) == ['loss_cls_e1', 'loss_cls_e2', 'loss_cls_e3']
    assert torch.allclose(losses['loss_cls_e2'],
                          2 * base.loss(feats, samples(labels))['loss_cls_e2'])
    ssc = ACEHead(10, 8, class_counts=COUNTS,
                  loss=dict(type='ACELoss', split_specific=True,
                            complement=None))
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
    head = ACEHead(
        10, 8, class_counts=COUNTS,
        loss=dict(complement=dict(form='norm', loss_weight=0.5)))
    assert isinstance(head.loss_module, ACELoss)
    assert head.loss_module.complement.form == 'norm'
    assert head.loss_module.complement.loss_weight == 0.5
    assert 'loss_module' not in ''.join(head.state_dict())  # no weights


def test_head_pre_logits_is_one_tensor():
    """mmpretrain's contract: ``extract_feat(stage='pre_logits')`` is one
    tensor; for ACE the K expert features side by side."""
    head = ACEHead(10, 8, class_counts=COUNTS)
    feats = tuple(torch.randn(4, 8) for _ in range(3))
    assert torch.equal(head.pre_logits(feats), torch.cat(feats, dim=1))


@pytest.mark.parametrize('removed', [
    dict(complement_loss=None), dict(loss_weight=2.0),
    dict(split_specific=True)
])
def test_loss_options_live_in_the_loss_config_only(removed):
    """No deprecated head keywords: the loss terms are set in ``loss``."""
    with pytest.raises(TypeError, match=list(removed)[0]):
        ACEHead(10, 8, class_counts=COUNTS, **removed)


def test_logit_adjust_tau_reaches_expert1():
    """The head hands its counts to ACELoss, whose expert-1 cross-entropy
    is then adjusted (the counts are never passed per call)."""
    feats = tuple(torch.randn(4, 8) for _ in range(3))
    adjusted = ACEHead(10, 8, class_counts=COUNTS,
                       loss=dict(logit_adjust_tau=1.0))
    plain = ACEHead(10, 8, class_counts=COUNTS)
    plain.load_state_dict(adjusted.state_dict())
    a = adjusted.loss(feats, samples([3, 6, 0, 2]))
    b = plain.loss(feats, samples([3, 6, 0, 2]))
    assert not torch.allclose(a['loss_cls_e1'], b['loss_cls_e1'])
    assert torch.allclose(a['loss_cls_e2'], b['loss_cls_e2'])


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


@pytest.mark.parametrize('kwargs, error, match', [
    (dict(num_experts='3'), TypeError, r"num_experts='3' must be an integer"),
    (dict(num_experts=2.0), TypeError, r'num_experts=2.0 must be an integer'),
    (dict(num_experts=True), TypeError, r'num_experts=True'),
    (dict(num_experts=0), ValueError, r'num_experts=0 must be >= 1'),
    (dict(num_classes='10'), TypeError, r"num_classes='10'"),
    (dict(rescale='Squared'), ValueError, r"unknown rescale 'Squared'"),
    (dict(norm_reduce='avg'), ValueError, r"unknown norm_reduce 'avg'"),
    (dict(norm_over=['target']), ValueError, r'unknown norm_over'),
    (dict(aggregation=1), ValueError, r'unknown aggregation 1'),
    (dict(scale_bias='yes'), TypeError, r"scale_bias='yes' must be True"),
    (dict(loss=dict(split_specific=1)), TypeError, r'split_specific=1'),
    (dict(loss=dict(loss_weight='1')), TypeError,
     r"loss_weight='1' must be a number"),
    (dict(loss=dict(complement=dict(form='frobenius'))), ValueError,
     r"ComplementLoss: unknown form 'frobenius'"),
    (dict(loss='ACELoss'), TypeError, r'loss must be an ACELoss config'),
    (dict(planner='shares'), ValueError, r"unknown planner 'shares'"),
    (dict(planner='share'), TypeError,
     r"planner='share' needs share_thresholds"),
    (dict(planner='share', share_thresholds=[0.05, 0.3]), ValueError,
     r'share_thresholds=\[0.05, 0.3\] must be strictly decreasing'),
    (dict(share_thresholds=[0.3, 0.05]), ValueError,
     r"share_thresholds=\[0.3, 0.05\] is only used with planner='share'"),
    (dict(rescale_inverse=1), TypeError, r'rescale_inverse=1'),
    (dict(norm_weight='lws'), ValueError, r"unknown norm_weight 'lws'"),
    (dict(rescal='plain'), TypeError, r"unknown option\(s\) \['rescal'\]"),
])
def test_head_option_types(kwargs, error, match):
    args = dict(num_classes=10, in_channels=8, class_counts=None)
    args.update(kwargs)
    owner = 'ACELoss: ' if isinstance(kwargs.get('loss'), dict) else \
        'ACEHead: '
    if match.startswith('ComplementLoss'):
        owner = ''
    with pytest.raises(error, match=owner + match):
        ACEHead(**args)
