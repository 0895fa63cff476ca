"""The long-tail baselines: losses, DRW hook, sampler and post-hoc head,
each against a hand-computed example."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmpretrain.registry import MODELS

from mmace.datasets import ClassBalancedSampler
from mmace.engine.hooks.deferred_reweighting_hook import (
    DeferredReweightingHook, effective_number_weights)
from mmace.models.heads import LongTailLinearClsHead
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


def test_effective_number_weights():
    w = effective_number_weights([8, 2], beta=0.5)
    # (1 - .5) / (1 - .5^8) and (1 - .5) / (1 - .5^2), normalised to sum 2.
    raw = np.array([0.5 / (1 - 0.5**8), 0.5 / 0.75])
    assert np.allclose(w, raw / raw.sum() * 2)


class _Runner:
    """The parts of a runner the DRW hook reads."""

    def __init__(self, loss, labels):
        self.model = torch.nn.Module()
        self.model.head = torch.nn.Module()
        self.model.head.loss_module = loss

        class Data:
            def get_gt_labels(self):
                return np.array(labels)

        self.train_dataloader = type('L', (), {'dataset': Data()})()
        self.epoch = 0


def test_drw_hook_switches_class_weights_on_at_start_epoch():
    loss = LDAMLoss(class_counts=COUNTS)
    runner = _Runner(loss, [0] * 8 + [1] * 2)
    hook = DeferredReweightingHook(start_epoch=2, beta=0.5)
    hook.before_train(runner)
    for epoch, on in ((0, False), (1, False), (2, True), (3, True)):
        runner.epoch = epoch
        hook.before_train_epoch(runner)
        assert (loss.class_weight is not None) == on, epoch
    assert np.allclose(loss.class_weight,
                       effective_number_weights([8, 2], 0.5))


class _Labels:
    def __init__(self, labels):
        self.labels = labels

    def get_gt_labels(self):
        return np.array(self.labels)

    def __len__(self):
        return len(self.labels)


@pytest.mark.parametrize('mode, expected', [
    ('class_balanced', [1 / 3] * 3),
    ('sqrt', np.sqrt([64, 16, 4]) / np.sqrt([64, 16, 4]).sum()),
])
def test_sampler_class_frequencies(mode, expected):
    labels = [0] * 64 + [1] * 16 + [2] * 4
    sampler = ClassBalancedSampler(_Labels(labels), mode=mode, seed=0)
    drawn = []
    for epoch in range(60):  # 60 x 84 draws
        sampler.set_epoch(epoch)
        drawn += [labels[i] for i in sampler]
    freq = np.bincount(drawn, minlength=3) / len(drawn)
    assert np.allclose(freq, expected, atol=0.02), freq
    assert len(sampler) == len(labels)


def test_progressive_sampler_moves_from_data_to_balanced():
    labels = [0] * 64 + [1] * 16 + [2] * 4
    sampler = ClassBalancedSampler(_Labels(labels), mode='progressive',
                                   total_epochs=10, seed=0)
    assert np.allclose(sampler.class_probs(0), [64 / 84, 16 / 84, 4 / 84])
    assert np.allclose(sampler.class_probs(10), [1 / 3] * 3)
    assert np.allclose(sampler.class_probs(5),
                       0.5 * np.array([64, 16, 4]) / 84 + 0.5 / 3)
    with pytest.raises(ValueError, match='needs total_epochs'):
        ClassBalancedSampler(_Labels(labels), mode='progressive')


def test_posthoc_head_by_hand():
    head = LongTailLinearClsHead(2, 2, posthoc_tau=1.0, class_counts=COUNTS)
    with torch.no_grad():
        head.fc.weight.copy_(torch.tensor([[2., 0.], [0., 1.]]))
        head.fc.bias.zero_()
    x = (torch.tensor([[1., 1.]]), )
    # Raw logits [2, 1]; minus log prior: [2 - log .8, 1 - log .2].
    assert torch.allclose(head.adjusted_logits(x),
                          torch.tensor([[2 - math.log(.8),
                                         1 - math.log(.2)]]))
    assert head.predict(x)[0].pred_label.item() == 1  # 2.22 < 2.61
    # tau-norm with power 1: rows scaled to unit norm -> logits [1, 1].
    tn = LongTailLinearClsHead(2, 2, tau_norm=1.0)
    tn.load_state_dict(head.state_dict())
    assert torch.allclose(tn.adjusted_logits(x), torch.tensor([[1., 1.]]))
    # A LinearClsHead checkpoint loads strictly: counts are not persistent.
    assert set(head.state_dict()) == {'fc.weight', 'fc.bias'}


def test_lws_head_scales_each_whole_logit_by_hand():
    head = LongTailLinearClsHead(2, 2, lws=True)
    with torch.no_grad():
        head.fc.weight.copy_(torch.tensor([[2., 0.], [0., 1.]]))
        head.fc.bias.copy_(torch.tensor([1., 1.]))
        head.fc.scale.copy_(torch.tensor([0.5, 3.]))
    x = (torch.tensor([[1., 1.]]), )
    # f * (w x + b): 0.5 * (2 + 1), 3 * (1 + 1).
    expected = torch.tensor([[1.5, 6.]])
    assert torch.allclose(head(x), expected)
    assert torch.allclose(head.adjusted_logits(x), expected)
    # A first-stage LinearClsHead checkpoint fills weight and bias; the
    # scale is new (load_from loads non-strictly) and starts at 1.
    plain = LongTailLinearClsHead(2, 2)
    missing = LongTailLinearClsHead(2, 2, lws=True).load_state_dict(
        plain.state_dict(), strict=False).missing_keys
    assert missing == ['fc.scale']
    assert torch.equal(LongTailLinearClsHead(2, 2, lws=True).fc.scale,
                       torch.ones(2))
