import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.registry import MODELS


@MODELS.register_module()
class LWSLinear(nn.Linear):
    """Linear classifier with learnable weight scaling (LWS).

    Kang et al., "Decoupling Representation and Classifier for Long-Tailed
    Recognition", ICLR 2020: every class row of the weight gets a learnable
    scale. By default ``logits = scale * (x @ W.T) + bias``: the bias is
    *not* scaled, so the scale only rescales the norm of each class's weight
    vector (:attr:`effective_weight`), which is what ACE's logit rescaling
    (Eq. 2) measures. ``scale_bias=True`` scales the whole logit,
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
        self.scale_bias = scale_bias
        self.scale = nn.Parameter(self.weight.new_ones(out_features))

    def reset_parameters(self) -> None:
        super().reset_parameters()
        # nn.Linear.__init__ calls this before `scale` exists.
        if hasattr(self, 'scale'):
            nn.init.ones_(self.scale)

    @property
    def effective_weight(self) -> torch.Tensor:
        """The ``[C, D]`` scaled weight ``scale[:, None] * W``."""
        return self.scale[:, None] * self.weight

    @property
    def effective_bias(self):
        """The ``[C]`` bias as applied (scaled if ``scale_bias``), or None."""
        if self.bias is None or not self.scale_bias:
            return self.bias
        return self.scale * self.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.effective_weight, self.effective_bias)

    def extra_repr(self) -> str:
        return f'{super().extra_repr()}, scale_bias={self.scale_bias}'
