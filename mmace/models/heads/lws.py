"""Classifiers with learnable weight scaling (LWS): a linear layer and its
1x1-convolution twin for per-pixel heads."""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.registry import MODELS


class _LearnableWeightScaling:
    """A per-class (per output row) learnable ``scale`` on the weight.

    Kang et al., "Decoupling Representation and Classifier for Long-Tailed
    Recognition", ICLR 2020. ``scale`` starts at 1, so a fresh layer is
    the plain layer and the plain layer's ``weight`` / ``bias`` load into
    it unchanged. The bias is scaled too only with ``scale_bias``.
    """

    def _init_scale(self, scale_bias: bool) -> None:
        self.scale_bias = scale_bias
        self.scale = nn.Parameter(self.weight.new_ones(self.weight.size(0)))

    def reset_parameters(self) -> None:
        super().reset_parameters()
        # The parent's __init__ calls this before `scale` exists.
        if hasattr(self, 'scale'):
            nn.init.ones_(self.scale)

    @property
    def effective_weight(self) -> torch.Tensor:
        """The weight as applied, ``scale`` times each class row."""
        view = [-1] + [1] * (self.weight.dim() - 1)
        return self.scale.view(view) * self.weight

    @property
    def effective_bias(self) -> Optional[torch.Tensor]:
        """The ``[C]`` bias as applied (scaled if ``scale_bias``), or None."""
        if self.bias is None or not self.scale_bias:
            return self.bias
        return self.scale * self.bias

    def extra_repr(self) -> str:
        return f'{super().extra_repr()}, scale_bias={self.scale_bias}'


@MODELS.register_module()
class LWSLinear(_LearnableWeightScaling, nn.Linear):
    """Linear classifier with learnable weight scaling (LWS).

    Every class row of the weight gets a learnable scale. By default
    ``logits = scale * (x @ W.T) + bias``: the bias is *not* scaled, so the
    scale only rescales the norm of each class's weight vector
    (:attr:`effective_weight`), which is what ACE's logit rescaling (Eq. 2)
    measures. ``scale_bias=True`` scales the whole logit,
    ``scale * (x @ W.T + bias)``, as Decoupling's LWS does.

    It subclasses :class:`torch.nn.Linear` (``weight`` ``[C, D]``, ``bias``
    ``[C]``), so ``init_cfg=dict(type='Normal', layer='Linear', ...)``
    initialises ``weight`` and ``bias`` while ``scale`` stays 1.

    Args:
        in_features (int): ``D``, the input feature size.
        out_features (int): ``C``, the number of classes.
        bias (bool): Whether to learn a bias. Defaults to True.
        scale_bias (bool): Whether the scale also multiplies the bias.
            Defaults to False.
    """

    def __init__(self, in_features: int, out_features: int,
                 bias: bool = True, scale_bias: bool = False, **kwargs):
        super().__init__(in_features, out_features, bias=bias, **kwargs)
        self._init_scale(scale_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.effective_weight, self.effective_bias)


class LWSConv2d(_LearnableWeightScaling, nn.Conv2d):
    """1x1 per-pixel classifier with learnable weight scaling (LWS).

    The convolutional twin of :class:`LWSLinear`:
    ``logits = conv(x, scale[:, None, None, None] * W) + bias``. A fresh
    layer is exactly ``nn.Conv2d(in_channels, out_channels, 1)``, and the
    ``weight`` / ``bias`` of a stock ``conv_seg`` load into it unchanged.

    Args:
        in_channels (int): Input channels.
        out_channels (int): ``C``, the number of classes.
        bias (bool): Whether to learn a bias. Defaults to True.
        scale_bias (bool): Whether the scale also multiplies the bias.
            Defaults to False.
    """

    def __init__(self, in_channels: int, out_channels: int,
                 bias: bool = True, scale_bias: bool = False):
        super().__init__(in_channels, out_channels, kernel_size=1, bias=bias)
        self._init_scale(scale_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.effective_weight, self.effective_bias)
