import torch
import torch.nn.functional as F
from mmpretrain.registry import MODELS

from ..utils.checks import check_number
from ..utils.class_counts import require_positive
from .utils import ClassCountsLoss, soft_or_hard_ce


@MODELS.register_module()
class LDAMLoss(ClassCountsLoss):
    """Label-distribution-aware margin loss (Cao et al., NeurIPS 2019).

    The true class's logit is lowered by ``m_y = C / n_y^(1/4)`` with ``C``
    such that the largest margin is ``max_margin``, and the logits are
    scaled by ``scale`` (the LDAM-DRW CIFAR recipe: 0.5 and 30). The
    logits must be cosines, as in LDAM-DRW: use it with
    ``LongTailLinearClsHead(cosine=True)``; on an unnormalised linear
    classifier a scale of 30 makes training diverge. Deferred re-weighting
    (DRW) is :class:`mmace.engine.hooks.DeferredReweightingHook`, which
    sets ``class_weight`` at a given epoch. With soft scores (Mixup) each
    class ``c`` is lowered by ``target_c * m_c``. The counts come from the
    head; every class needs a training sample.

    Args:
        max_margin (float): The largest margin. Defaults to 0.5.
        scale (float): Logit scale ``s``. Defaults to 30.
        loss_weight (float): Defaults to 1.0.
        class_weight (Sequence[float], optional): Per-class weights.
    """

    def __init__(self, max_margin: float = 0.5, scale: float = 30.0,
                 loss_weight: float = 1.0, class_weight=None):
        super().__init__(loss_weight, class_weight)
        owner = type(self).__name__
        check_number(owner, 'max_margin', max_margin, 0)
        check_number(owner, 'scale', scale, 0)
        self.max_margin = max_margin
        self.scale = scale

    def margins(self, counts: torch.Tensor) -> torch.Tensor:
        """``[C]`` margins ``m_c``, the largest ``max_margin``."""
        m = counts.pow(-0.25)
        return m * (self.max_margin / m.max())

    def from_counts(self, class_counts):
        counts = torch.as_tensor(class_counts, dtype=torch.float64)
        require_positive(type(self).__name__, counts, 'the LDAM margins')
        return self.margins(counts).float()

    def forward(self, cls_score, label, avg_factor=None, **kwargs):
        margins = self._count_term(cls_score)
        if label.dim() == 1:
            shift = F.one_hot(label, cls_score.size(1)).to(
                cls_score.dtype) * margins
        else:
            shift = label * margins
        logits = self.scale * (cls_score - shift)
        return self.loss_weight * soft_or_hard_ce(logits, label,
                                                  self._weight(cls_score))
