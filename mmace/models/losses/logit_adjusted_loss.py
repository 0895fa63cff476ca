from mmpretrain.registry import MODELS

from ..utils.checks import check_number
from ..utils.class_counts import log_prior
from .utils import ClassCountsLoss, soft_or_hard_ce


@MODELS.register_module()
class LogitAdjustedLoss(ClassCountsLoss):
    """Logit-adjusted cross-entropy (Menon et al., ICLR 2021).

    ``CE(z + tau * log(pi), y)`` with ``pi`` the training class prior: the
    rare classes' logits must win by a margin that grows as they get rarer.
    ``tau = 1`` is the balanced softmax (Ren et al., NeurIPS 2020); see also
    :class:`BalancedSoftmaxLoss`. Predict with the raw logits. Accepts hard
    labels ``[N]`` and the soft scores ``[N, C]`` of Mixup / CutMix.

    The prior comes from the head (``LongTailLinearClsHead``), which hands
    over its class counts; every class needs a training sample.

    Args:
        tau (float): Temperature of the adjustment. Defaults to 1.0.
        loss_weight (float): Defaults to 1.0.
        class_weight (Sequence[float], optional): Per-class weights.
    """

    def __init__(self, tau: float = 1.0, loss_weight: float = 1.0,
                 class_weight=None):
        super().__init__(loss_weight, class_weight)
        check_number(type(self).__name__, 'tau', tau, 0)
        self.tau = tau

    def from_counts(self, class_counts):
        return self.tau * log_prior(type(self).__name__, class_counts,
                                    'the logit adjustment')

    def forward(self, cls_score, label, avg_factor=None, **kwargs):
        logits = cls_score + self._count_term(cls_score)
        return self.loss_weight * soft_or_hard_ce(logits, label,
                                                  self._weight(cls_score))
