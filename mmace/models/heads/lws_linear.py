import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.registry import MODELS


@MODELS.register_module()
class LWSLinear(nn.Linear):
    """Linear classifier with learnable weight scaling (LWS).

    Kang et al., "Decoupling Representation and Classifier for Long-Tailed
    Recognition", ICLR 2020: every class row of the weight gets a learnable
    scale, ``logits = scale * (x @ W.T) + bias``. The bias is *not* scaled,
    so the scale only rescales the norm of each class's weight vector
    (:attr:`effective_weight`), which is what ACE's logit rescaling (Eq. 2)
    measures.

    It subclasses :class:`torch.nn.Linear` (``weight`` ``[C, D]``, ``bias``
    ``[C]``), so ``init_cfg=dict(type='Normal', layer='Linear', ...)``
    initialises ``weight`` and ``bias`` while ``scale`` stays 1.

    Args:
        in_features (int): ``D``, the input feature size.
        out_features (int): ``C``, the number of classes.
        bias (bool): Whether to learn a bias. Defaults to True.
    """

    def __init__(self, in_features: int, out_features: int,
                 bias: bool = True, **kwargs):
        super().__init__(in_features, out_features, bias=bias, **kwargs)
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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.effective_weight, self.bias)
