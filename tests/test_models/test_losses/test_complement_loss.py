"""ComplementLoss (L_com, Eq. 5) on given sub-batch memberships, by hand."""
import math

import pytest
import torch
from mmpretrain.registry import MODELS

import mmace  # noqa: F401  (registers the modules)

# One expert (K = 1), 2 samples, 3 classes; class 0 is interfering.
MASK = torch.tensor([[False, True, True]])
LOGITS = torch.tensor([[[1., 2., 3.], [4., 5., 6.]]])


def test_squared_form_by_hand():
    loss = MODELS.build(dict(type='ComplementLoss', loss_weight=0.5))
    logits = LOGITS.clone().requires_grad_()
    # Only sample 1 in the sub-batch: 4^2 / 1, times 0.5.
    assert torch.allclose(loss(logits, torch.tensor([[0., 1.]]), MASK),
                          torch.tensor([8.]))
    # Both in: (1^2 + 4^2) / 2 * 0.5.
    assert torch.allclose(loss(logits, torch.tensor([[1., 1.]]), MASK),
                          torch.tensor([4.25]))
    # Soft membership 0.5 for sample 0: (0.5 * 1 + 16) / 1.5 * 0.5.
    assert torch.allclose(loss(logits, torch.tensor([[.5, 1.]]), MASK),
                          torch.tensor([16.5 / 1.5 * 0.5]))
    # Empty sub-batch: 0 with a (zero) gradient.
    out = loss(logits, torch.zeros(1, 2), MASK)
    out.sum().backward()
    assert out.item() == 0 and torch.equal(logits.grad, torch.zeros(1, 2, 3))


def test_norm_form_by_hand():
    loss = MODELS.build(dict(type='ComplementLoss', form='norm'))
    # sqrt(1^2 + 4^2) / |IC| with one interfering class.
    assert loss(LOGITS, torch.ones(1, 2), MASK).item() == pytest.approx(
        math.sqrt(17))
    # Two interfering classes divide by 2; an expert with none gives 0.
    masks = torch.tensor([[False, False, True], [True, True, True]])
    out = loss(LOGITS.expand(2, 2, 3), torch.ones(2, 2), masks)
    assert torch.allclose(out, torch.tensor([math.sqrt(1 + 4 + 16 + 25) / 2,
                                             0.]))
    with pytest.raises(ValueError, match="unknown form 'frob'"):
        MODELS.build(dict(type='ComplementLoss', form='frob'))
