"""ComplementLoss (L_com), by hand."""
import torch
from mmpretrain.registry import MODELS

import mmace  # noqa: F401  (registers the modules)
from mmace.models.losses import ComplementLoss


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
