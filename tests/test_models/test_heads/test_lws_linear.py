"""LWSLinear: a linear layer with learnable weight scaling (LWS)."""
import torch
from mmengine.model import initialize
from mmpretrain.registry import MODELS

import mmace  # noqa: F401  (registers the modules)
from mmace.models.heads import LWSLinear


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
