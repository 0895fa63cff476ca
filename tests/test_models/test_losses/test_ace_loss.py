"""ACELoss (Eq. 4 + the Eq. 5 ComplementLoss it builds), by hand."""
import math

import pytest
import torch
import torch.nn as nn
from mmpretrain.registry import MODELS

import mmace  # noqa: F401  (registers the modules)
from mmace.models.ace import plan_target_masks
from mmace.models.losses import ACELoss, ComplementLoss

# K=2, C=3: counts [3, 2, 1] -> expert 1 targets {0, 1, 2}, expert 2 {1, 2}.
MASKS2 = torch.tensor([[True, True, True], [False, True, True]])


def ace_terms(expert_logits, targets, masks, form='squared',
              split_specific=False, **kwargs):
    """``ACELoss.terms`` with the complement term of ``form`` (none for
    SSC), its missing ``com`` read as zeros."""
    loss = ACELoss(
        complement=None if split_specific else dict(form=form),
        split_specific=split_specific)
    out = loss.terms(expert_logits, targets, masks, **kwargs)
    if out['com'] is None:
        out['com'] = torch.zeros_like(out['cls'])
    return out


# Expert 1 gives all-zero logits: log_softmax = -log 3 on every class.
LOG3 = math.log(3)


def _logits():
    z1 = torch.zeros(3, 3, requires_grad=True)
    z2 = torch.tensor([[5., 1., 1.], [1., 0., 0.], [2., 0., 0.]],
                      requires_grad=True)
    return z1, z2


def test_ace_losses_hard_by_hand():
    z1, z2 = _logits()
    labels = torch.tensor([0, 1, 2])  # sample 0 is outside C_2 = {1, 2}
    out = ace_terms([z1, z2], labels, MASKS2)
    assert torch.allclose(out['size'], torch.tensor([3., 2.]))
    # Expert 1: CE = log 3 for every sample; no interfering class.
    # Expert 2 on its sub-batch {1, 2}:
    #   sample 1, logits [1, 0, 0], label 1: CE = log(e + 2) - 0
    #   sample 2, logits [2, 0, 0], label 2: CE = log(e^2 + 2) - 0
    #   complement: class 0 logits 1^2 and 2^2 -> (1 + 4) / 2
    e = math.e
    cls2 = (math.log(e + 2) + math.log(e**2 + 2)) / 2
    assert torch.allclose(out['cls'], torch.tensor([LOG3, cls2]))
    assert torch.allclose(out['com'], torch.tensor([0., 2.5]))
    # Same numbers from the one-hot (soft) form of the labels.
    soft = ace_terms([z1, z2], nn.functional.one_hot(labels, 3).float(),
                          MASKS2)
    for key in ('cls', 'com', 'size'):
        assert torch.allclose(soft[key], out[key])


def test_complement_norm_form_by_hand():
    # The released ResCELoss term: ||Z_2[B_2, IC_2]||_F / |IC_2| with
    # B_2 = samples {1, 2} and IC_2 = {class 0}: sqrt(1^2 + 2^2) / 1.
    z1, z2 = _logits()
    labels = torch.tensor([0, 1, 2])
    out = ace_terms([z1, z2], labels, MASKS2, form='norm')
    assert torch.allclose(out['com'], torch.tensor([0., math.sqrt(5)]))
    # The classification term is the same as with the printed form.
    printed = ace_terms([z1, z2], labels, MASKS2)
    assert torch.allclose(out['cls'], printed['cls'])
    # Two interfering classes divide by 2: expert 2 of 3 targets class 2
    # only; its sub-batch is sample 2 with interfering logits [2, 0].
    masks = torch.tensor([[True, True, True], [False, False, True]])
    out = ace_terms([z1, z2], labels, masks, form='norm')
    assert torch.allclose(out['com'], torch.tensor([0., 2 / 2]))
    out['com'].sum().backward()
    assert torch.isfinite(z2.grad).all()
    with pytest.raises(ValueError, match="'squared', 'norm'"):
        ace_terms([z1, z2], labels, MASKS2, form='frob')


def test_complement_norm_form_empty_sub_batch_is_zero_with_finite_grads():
    z1, z2 = _logits()
    out = ace_terms([z1, z2], torch.tensor([0, 0, 0]), MASKS2,
                         form='norm')
    assert torch.equal(out['com'], torch.zeros(2))
    (out['cls'].sum() + out['com'].sum()).backward()
    assert torch.isfinite(z2.grad).all()


def test_split_specific_by_hand():
    z1, z2 = _logits()
    out = ace_terms([z1, z2], torch.tensor([0, 1, 2]), MASKS2,
                         split_specific=True)
    # Expert 2's softmax covers classes 1, 2 only: logits [0, 0] -> log 2.
    assert torch.allclose(out['cls'], torch.tensor([LOG3, math.log(2)]))
    assert torch.equal(out['com'], torch.zeros(2))
    out['cls'].sum().backward()
    assert torch.isfinite(z2.grad).all()
    assert torch.equal(z2.grad[:, 0], torch.zeros(3))  # interfering: no grad


def test_empty_sub_batch_is_zero_with_finite_grads():
    z1, z2 = _logits()
    labels = torch.tensor([0, 0, 0])  # nobody in C_2
    for split_specific in (False, True):
        out = ace_terms([z1, z2], labels, MASKS2,
                             split_specific=split_specific)
        assert out['cls'][1].item() == 0.0 and out['com'][1].item() == 0.0
        assert out['size'][1].item() == 0.0
    out = ace_terms([z1, z2], labels, MASKS2)
    (out['cls'] + out['com']).sum().backward()
    # The graph still reaches expert 2 (DDP), with an all-zero gradient.
    assert z2.grad is not None and torch.equal(z2.grad, torch.zeros(3, 3))
    assert torch.isfinite(z1.grad).all() and z1.grad.abs().sum() > 0


def test_mixup_membership():
    z1, z2 = _logits()
    lam = 0.7
    # Sample 0 mixes class 2 (in C_2) with weight lam and class 0 (not in
    # C_2) with 1 - lam; samples 1, 2 are plain labels 1 and 2.
    y = torch.tensor([[1 - lam, 0., lam], [0., 1., 0.], [0., 0., 1.]])
    out = ace_terms([z1, z2], y, MASKS2)
    assert torch.allclose(out['size'], torch.tensor([3., lam + 2]))
    logp2 = z2.detach().log_softmax(1)
    # Expert 2: sample 0 counts lam * CE(label 2); class 0's mass is dropped.
    ce = [-lam * logp2[0, 2], -logp2[1, 1], -logp2[2, 2]]
    assert torch.allclose(out['cls'][1], sum(ce) / (lam + 2))
    # Complement: sample 0 weighs its class-0 logit^2 (25) by lam.
    assert torch.allclose(out['com'][1],
                          torch.tensor((lam * 25 + 1 + 4) / (lam + 2)))
    # Expert 1 targets everything: plain soft CE, membership 1 each.
    assert torch.allclose(out['cls'][0], torch.tensor(LOG3))


def test_single_mixup_sample_membership_is_lam():
    z1, z2 = _logits()
    y = torch.tensor([[0.25, 0., 0.75]])  # 0.75 on class 2, 0.25 on class 0
    out = ace_terms([z1[:1], z2[:1]], y, MASKS2)
    assert torch.allclose(out['size'], torch.tensor([1.0, 0.75]))
    # Divided by the membership: the CE of label 2 alone, and 5^2.
    assert torch.allclose(out['cls'][1], -z2[0].detach().log_softmax(0)[2])
    assert torch.allclose(out['com'][1], torch.tensor(25.))


def test_bad_targets():
    z1, z2 = _logits()
    with pytest.raises(ValueError, match='targets'):
        ace_terms([z1, z2], torch.zeros(3, 3, 1), MASKS2)
    with pytest.raises(ValueError, match='masks'):
        ace_terms([z1, z2], torch.tensor([0, 1, 2]), MASKS2[:1])


# ------------------------------------------------------- dense logits
def test_dense_per_pixel_heads():
    """A per-pixel ACE 'head': one 1x1 conv per expert on [N, D, H, W]."""
    torch.manual_seed(0)
    n, d, h, w, c, k = 2, 4, 3, 5, 6, 3
    masks = plan_target_masks([60, 50, 40, 30, 20, 10], k)
    convs = nn.ModuleList(nn.Conv2d(d, c, 1) for _ in range(k))
    feats = torch.randn(n, d, h, w)
    labels = torch.randint(0, c, (n, h, w))
    labels[0, 0] = 255  # an ignored row of pixels
    logits = [conv(feats) for conv in convs]  # K x [N, C, H, W]

    out = ace_terms(logits, labels, masks, ignore_index=255)
    # Same as flattening the pixels to rows and dropping the ignored ones.
    keep = labels.flatten() != 255
    rows = [z.permute(0, 2, 3, 1).reshape(-1, c)[keep] for z in logits]
    ref = ace_terms(rows, labels.flatten()[keep], masks)
    for key in ('cls', 'com', 'size'):
        assert torch.allclose(out[key], ref[key])
    assert out['size'][0].item() == n * h * w - w
    (out['cls'] + out['com']).sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in convs.parameters())


# ------------------------------------------------- the loss as configured
def test_complement_is_a_complement_loss_config():
    loss = MODELS.build(dict(
        type='ACELoss', loss_weight=2.0,
        complement=dict(type='ComplementLoss', form='norm', loss_weight=0.5)))
    assert isinstance(loss.complement, ComplementLoss)
    assert loss.complement.form == 'norm'
    # 'type' defaults to ComplementLoss (e.g. --cfg-options
    # model.head.loss.complement.form=norm on a config without it).
    assert ACELoss(complement=dict(form='norm')).complement.form == 'norm'
    z1 = torch.zeros(3, 3)
    z2 = torch.tensor([[5., 1., 1.], [1., 0., 0.], [2., 0., 0.]])
    out = loss([z1, z2], torch.tensor([0, 1, 2]), MASKS2)
    e = math.e
    cls2 = (math.log(e + 2) + math.log(e**2 + 2)) / 2
    assert out['loss_cls_e2'].item() == pytest.approx(2 * cls2)
    # Each term's weight lives in its own config: sqrt(5) / 1 * 0.5.
    assert out['loss_com_e2'].item() == pytest.approx(0.5 * math.sqrt(5))
    assert set(out) == {'loss_cls_e1', 'loss_com_e1', 'loss_cls_e2',
                        'loss_com_e2'}


def test_no_complement_term():
    """complement=None is Table 5 "without L_com": nothing computed or
    logged; split-specific classifiers have no complement term and must
    say so."""
    out = ACELoss(complement=None)([torch.zeros(2, 3)] * 2,
                                   torch.tensor([0, 1]), MASKS2)
    assert set(out) == {'loss_cls_e1', 'loss_cls_e2'}
    with pytest.raises(ValueError, match='complement=None'):
        ACELoss(split_specific=True)
    with pytest.raises(TypeError, match='complement'):
        ACELoss(complement='norm')
    with pytest.raises(ValueError, match="unknown form 'frob'"):
        ACELoss(complement=dict(form='frob'))
