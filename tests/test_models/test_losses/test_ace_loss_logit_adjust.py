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
    out = ACELoss(logit_adjust_tau=1.0)(z, labels, MASKS,
                                        class_counts=COUNTS)
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
    with pytest.raises(ValueError, match='class counts'):
        ACELoss(logit_adjust_tau=1.0)([torch.zeros(1, 3)] * 2,
                                      torch.tensor([0]), MASKS)
