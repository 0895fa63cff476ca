"""LWSLinear and LWSConv2d: learnable weight scaling (LWS), by hand."""
import torch
from mmengine.model import initialize
from mmpretrain.registry import MODELS

import mmace  # noqa: F401  (registers the modules)
from mmace.models.heads import LWSLinear
from mmace.models.heads.lws import LWSConv2d


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


def test_lws_conv2d_is_the_per_pixel_twin():
    conv = LWSConv2d(4, 3)
    plain = torch.nn.Conv2d(4, 3, 1)
    plain.load_state_dict(
        {k: v for k, v in conv.state_dict().items() if k != 'scale'})
    x = torch.randn(2, 4, 5, 6)
    assert torch.allclose(conv(x), plain(x), atol=1e-6)  # scale starts at 1
    with torch.no_grad():
        conv.scale.copy_(torch.tensor([1., 2., 3.]))
    # Per class: scale * (w x) + bias, i.e. the linear layer's rule.
    expected = (plain(x) - plain.bias[:, None, None]) * \
        conv.scale[:, None, None] + plain.bias[:, None, None]
    assert torch.allclose(conv(x), expected, atol=1e-5)
    scaled = LWSConv2d(4, 3, scale_bias=True)
    assert 'scale_bias=True' in repr(scaled)
    with torch.no_grad():
        scaled.scale.fill_(2.)
    assert torch.allclose(scaled.effective_bias, 2 * scaled.bias)
