"""ACELoss(logit_adjust_tau): expert 1's cross-entropy on prior-shifted
logits (Menon et al.), by hand; the other experts and L_com unchanged."""
import math

import pytest
import torch

from mmace.models.losses import ACELoss

MASKS = torch.tensor([[1, 1, 1], [0, 1, 1]], dtype=torch.bool)
COUNTS = torch.tensor([8., 1., 1.])


def test_expert1_cross_entropy_is_logit_adjusted_by_hand():
    z = [torch.zeros(2, 3), torch.tensor([[0., 0., 0.], [1., 0., 0.]])]
    labels = torch.tensor([0, 2])
    loss = ACELoss(logit_adjust_tau=1.0)
    loss.set_class_counts(COUNTS)  # what the head does, once
    out = loss(z, labels, MASKS)
    # Expert 1: logits log([.8, .1, .1]); -log .8 and -log .1, averaged.
    assert out['loss_cls_e1'].item() == pytest.approx(
        (-math.log(.8) - math.log(.1)) / 2)
    # Expert 2 (classes 1, 2): only label 2, raw logits [1, 0, 0].
    assert out['loss_cls_e2'].item() == pytest.approx(
        math.log(math.e + 2))
    # L_com sees the raw logits: expert 2's interfering logit 1, squared.
    assert out['loss_com_e2'].item() == pytest.approx(1.0)
    plain = ACELoss()(z, labels, MASKS)
    assert plain['loss_cls_e2'] == out['loss_cls_e2']
    assert plain['loss_cls_e1'].item() == pytest.approx(math.log(3))


def test_tau_is_checked_and_needs_counts():
    with pytest.raises(ValueError, match='logit_adjust_tau'):
        ACELoss(logit_adjust_tau=-1)
    with pytest.raises(RuntimeError, match='class counts'):
        ACELoss(logit_adjust_tau=1.0)([torch.zeros(1, 3)] * 2,
                                      torch.tensor([0]), MASKS)


def test_a_class_without_samples_is_refused_by_name():
    """The one rule of every prior user: a zero count is named, not
    clamped."""
    with pytest.raises(ValueError, match=r'class 1 has none'):
        ACELoss(logit_adjust_tau=1.0).set_class_counts(
            torch.tensor([8., 0., 1.]))
    # Without the adjustment the counts are not needed, zeros are fine.
    ACELoss().set_class_counts(torch.tensor([8., 0., 1.]))


def test_only_expert1_is_adjusted():
    """A head that calls the loss for experts 2..K alone (first_expert > 1)
    gets the plain cross-entropy."""
    loss = ACELoss(logit_adjust_tau=1.0)
    loss.set_class_counts(COUNTS)
    z = [torch.tensor([[1., 0., 0.]])]
    out = loss(z, torch.tensor([2]), MASKS[1:], first_expert=2)
    assert out['loss_cls_e2'].item() == pytest.approx(math.log(math.e + 2))
