"""The long-tail losses (logit adjustment / balanced softmax, LDAM), each
against a hand-computed example; their counts come from the head."""
import math

import pytest
import torch
import torch.nn.functional as F
from mmpretrain.registry import MODELS

from mmace.models.heads import LongTailLinearClsHead
from mmace.models.losses import (BalancedSoftmaxLoss, LDAMLoss,
                                 LogitAdjustedLoss)

COUNTS = torch.tensor([8., 2.])  # prior 0.8 / 0.2


def with_counts(loss, counts=COUNTS):
    loss.set_class_counts(counts)  # what the head does, once
    return loss


def test_logit_adjusted_loss_by_hand():
    z = torch.tensor([[0., 0.]])
    y = torch.tensor([1])
    # z + tau * log(pi) = [log .8, log .2] (tau=1): CE = -log(.2 / 1).
    loss = with_counts(LogitAdjustedLoss(tau=1.0))
    assert loss(z, y).item() == pytest.approx(-math.log(0.2))
    # tau = 0.5: logits [.5 log .8, .5 log .2] -> softmax of sqrt(prior).
    half = with_counts(LogitAdjustedLoss(tau=0.5))(z, y).item()
    assert half == pytest.approx(-math.log(math.sqrt(.2) /
                                           (math.sqrt(.8) + math.sqrt(.2))))
    # Balanced softmax is tau = 1; soft scores equal their hard labels.
    bs = with_counts(BalancedSoftmaxLoss())
    assert bs(z, y).item() == pytest.approx(-math.log(0.2))
    assert bs(z, torch.tensor([[0., 1.]])).item() == pytest.approx(
        -math.log(0.2))
    # Never handed counts: refuses to run.
    unset = MODELS.build(dict(type='LogitAdjustedLoss'))
    with pytest.raises(RuntimeError, match='never received the class'):
        unset(z, y)


def test_ldam_loss_by_hand():
    # Margins ~ n^(-1/4): 8^-.25 and 2^-.25, scaled so the largest is 0.5:
    # class 1 gets 0.5, class 0 gets 0.5 * (2/8)^.25 = 0.5 / sqrt(2).
    loss = with_counts(LDAMLoss(max_margin=0.5, scale=2.0))
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


@pytest.mark.parametrize('loss', [
    dict(type='LogitAdjustedLoss'),
    dict(type='BalancedSoftmaxLoss'),
    dict(type='LDAMLoss'),
])
def test_the_head_hands_its_counts_to_the_loss(loss):
    """One home for the counts: the head's buffer, passed to its loss when
    set or loaded; the loss has no class_counts of its own."""
    head = LongTailLinearClsHead(2, 4, loss=loss, class_counts=[8, 2])
    assert head.loss_module.count_term is not None
    assert not hasattr(type(head.loss_module), 'takes_class_counts')
    with pytest.raises(TypeError, match='class_counts'):
        MODELS.build(dict(loss, class_counts=[8, 2]))
    # From a checkpoint alone: the loss of an 'auto' head gets them too.
    fresh = LongTailLinearClsHead(2, 4, loss=loss)
    assert fresh.loss_module.count_term is None
    fresh.load_state_dict(head.state_dict())
    assert torch.equal(fresh.loss_module.count_term,
                       head.loss_module.count_term)


@pytest.mark.parametrize('loss', [
    dict(type='LogitAdjustedLoss'),
    dict(type='LDAMLoss'),
])
def test_a_class_without_samples_is_refused_by_name(loss):
    with pytest.raises(ValueError, match=r'class 1 has none'):
        LongTailLinearClsHead(3, 4, loss=loss, class_counts=[8, 0, 2])
