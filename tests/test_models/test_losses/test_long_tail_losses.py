"""The long-tail losses (logit adjustment / balanced softmax, LDAM), each
against a hand-computed example."""
import math

import pytest
import torch
import torch.nn.functional as F
from mmpretrain.registry import MODELS

from mmace.models.losses import (BalancedSoftmaxLoss, LDAMLoss,
                                 LogitAdjustedLoss)

COUNTS = [8, 2]  # prior 0.8 / 0.2


def test_logit_adjusted_loss_by_hand():
    z = torch.tensor([[0., 0.]])
    y = torch.tensor([1])
    # z + tau * log(pi) = [log .8, log .2] (tau=1): CE = -log(.2 / 1).
    loss = LogitAdjustedLoss(tau=1.0, class_counts=COUNTS)
    assert loss(z, y).item() == pytest.approx(-math.log(0.2))
    # tau = 0.5: logits [.5 log .8, .5 log .2] -> softmax of sqrt(prior).
    half = LogitAdjustedLoss(tau=0.5, class_counts=COUNTS)(z, y).item()
    assert half == pytest.approx(-math.log(math.sqrt(.2) /
                                           (math.sqrt(.8) + math.sqrt(.2))))
    # Balanced softmax is tau = 1; soft scores equal their hard labels.
    bs = BalancedSoftmaxLoss(class_counts=COUNTS)
    assert bs(z, y).item() == pytest.approx(-math.log(0.2))
    assert bs(z, torch.tensor([[0., 1.]])).item() == pytest.approx(
        -math.log(0.2))
    # Built from a config with 'auto' counts: refuses to run unfilled.
    unset = MODELS.build(dict(type='LogitAdjustedLoss'))
    with pytest.raises(RuntimeError, match='class_counts were never'):
        unset(z, y)


def test_ldam_loss_by_hand():
    # Margins ~ n^(-1/4): 8^-.25 and 2^-.25, scaled so the largest is 0.5:
    # class 1 gets 0.5, class 0 gets 0.5 * (2/8)^.25 = 0.5 / sqrt(2).
    loss = LDAMLoss(max_margin=0.5, scale=2.0, class_counts=COUNTS)
    assert torch.allclose(loss.margins(torch.tensor([8., 2.])),
                          torch.tensor([0.5 / math.sqrt(2), 0.5]))
    z = torch.tensor([[1., 1.]])
    # Label 1: logits 2 * [1, 1 - 0.5] = [2, 1].
    expected = -math.log(math.exp(1) / (math.exp(2) + math.exp(1)))
    assert loss(z, torch.tensor([1])).item() == pytest.approx(expected)
    # Class weights (DRW) weight the samples, normalised as F.cross_entropy.
    loss.class_weight = [1.0, 3.0]
    two = torch.tensor([[1., 1.], [1., 1.]])
    labels = torch.tensor([0, 1])
    logits = 2 * (two - torch.tensor([[0.5 / math.sqrt(2), 0.], [0., .5]]))
    ref = F.cross_entropy(logits, labels, weight=torch.tensor([1., 3.]))
    assert loss(two, labels).item() == pytest.approx(ref.item())
