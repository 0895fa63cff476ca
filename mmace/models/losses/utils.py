"""What the long-tail losses share: the soft-or-hard cross-entropy and the
class counts their head hands them (see
:class:`mmace.models.utils.class_counts.ClassCountsMixin`)."""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..utils.checks import check_number


def soft_or_hard_ce(logits: torch.Tensor, target: torch.Tensor,
                    class_weight: Optional[torch.Tensor]) -> torch.Tensor:
    """Mean cross-entropy for hard labels ``[N]`` or soft scores ``[N, C]``.

    ``class_weight`` weights each sample by its label's weight (the
    label-mass-weighted one for soft scores), normalised by the summed
    weights as ``F.cross_entropy`` does.
    """
    if target.dim() == 1:
        return F.cross_entropy(logits, target, weight=class_weight)
    per_class = -target * logits.log_softmax(dim=1)
    if class_weight is None:
        return per_class.sum(dim=1).mean()
    return (per_class * class_weight).sum() / (target * class_weight).sum()


class ClassCountsLoss(nn.Module):
    """A loss shaped by the training class counts, which its head hands
    over once (:meth:`set_class_counts`), plus per-class weights for
    deferred re-weighting (``class_weight``, set by
    ``DeferredReweightingHook``).

    Subclasses turn the counts into one ``[C]`` tensor (:meth:`from_counts`)
    kept as the non-persistent buffer ``count_term``: computed once, on the
    head's device, so ``forward`` never syncs with the host.

    Args:
        loss_weight (float): Defaults to 1.0.
        class_weight (Sequence[float], optional): Per-class weights.
    """

    def __init__(self, loss_weight: float = 1.0, class_weight=None):
        super().__init__()
        check_number(type(self).__name__, 'loss_weight', loss_weight, 0)
        self.loss_weight = loss_weight
        #: Per-class weights (e.g. set by DeferredReweightingHook).
        self.class_weight = class_weight
        self.register_buffer('count_term', None, persistent=False)

    def from_counts(self, class_counts: torch.Tensor) -> torch.Tensor:
        """The ``[C]`` tensor ``forward`` needs from the counts."""
        raise NotImplementedError

    def set_class_counts(self, class_counts: torch.Tensor) -> None:
        """Receive the training class counts from the head (once)."""
        self.count_term = self.from_counts(class_counts)

    def _count_term(self, cls_score: torch.Tensor) -> torch.Tensor:
        if self.count_term is None:
            raise RuntimeError(
                f'{type(self).__name__} never received the class counts: '
                'use it as the loss of a head that keeps them '
                "(type='LongTailLinearClsHead', filled by "
                "runner_type='LongTailRunner' or its class_counts)")
        if self.count_term.numel() != cls_score.size(1):
            raise ValueError(
                f'{type(self).__name__}: the class counts have '
                f'{self.count_term.numel()} classes, the logits have '
                f'{cls_score.size(1)}')
        return self.count_term.to(cls_score.dtype)

    def _weight(self, cls_score: torch.Tensor) -> Optional[torch.Tensor]:
        if self.class_weight is None:
            return None
        return cls_score.new_tensor(self.class_weight)
