"""Long-tail baselines as mmpretrain losses: logit adjustment / balanced
softmax and LDAM.

Each takes the training counts per class (``class_counts``); ``'auto'``
(the default) is filled by ``runner_type='LongTailRunner'`` from the
training set, like the ACE head's. They accept hard labels ``[N]`` and the
soft scores ``[N, C]`` that Mixup / CutMix produce, and are called by
mmpretrain's ``ClsHead`` as ``loss(cls_score, target, avg_factor=N)``.
"""
from typing import Optional

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.registry import MODELS

from ..utils.checks import check_number


def _counts(owner: str, class_counts) -> Optional[torch.Tensor]:
    """Counts as a float tensor, or None while still 'auto'."""
    if class_counts is None or (isinstance(class_counts, str)
                                and class_counts == 'auto'):
        return None
    if isinstance(class_counts, str):
        raise ValueError(f"{owner}: class_counts={class_counts!r} must be "
                         "'auto' or one count per class")
    counts = torch.as_tensor(np.asarray(class_counts, dtype=np.float64))
    if counts.dim() != 1 or not bool((counts > 0).all()):
        raise ValueError(f'{owner}: class_counts must be positive, one per '
                         f'class, got {class_counts!r}')
    return counts


def _soft_or_hard_ce(logits: torch.Tensor, target: torch.Tensor,
                     class_weight: Optional[torch.Tensor]) -> torch.Tensor:
    """Mean cross-entropy for hard labels ``[N]`` or soft scores
    ``[N, C]``; ``class_weight`` weights each sample by its label's
    weight (the label-mass-weighted one for soft scores), normalised by
    the summed weights as ``F.cross_entropy`` does."""
    if target.dim() == 1:
        return F.cross_entropy(logits, target, weight=class_weight)
    per_class = -target * logits.log_softmax(dim=1)
    if class_weight is None:
        return per_class.sum(dim=1).mean()
    return (per_class * class_weight).sum() / (target *
                                               class_weight).sum()


class _CountsLoss(nn.Module):
    """Shared parts: counts (settable later), class weights for DRW."""

    #: ``class_counts`` left out of a config means 'auto' (LongTailRunner).
    takes_class_counts = True

    def __init__(self, class_counts='auto', loss_weight: float = 1.0,
                 class_weight=None):
        super().__init__()
        owner = type(self).__name__
        check_number(owner, 'loss_weight', loss_weight, 0)
        self.loss_weight = loss_weight
        #: Per-class weights (e.g. set by DeferredReweightingHook).
        self.class_weight = class_weight
        self.counts = _counts(owner, class_counts)

    def _check(self, cls_score: torch.Tensor) -> torch.Tensor:
        if self.counts is None:
            raise RuntimeError(
                f'{type(self).__name__}: class_counts were never provided. '
                "Train with runner_type='LongTailRunner' (fills "
                "class_counts='auto'), or pass the counts")
        if self.counts.numel() != cls_score.size(1):
            raise ValueError(
                f'{type(self).__name__}: class_counts has '
                f'{self.counts.numel()} classes, the logits have '
                f'{cls_score.size(1)}')
        return self.counts.to(cls_score.device, cls_score.dtype)

    def _weight(self, cls_score):
        if self.class_weight is None:
            return None
        return cls_score.new_tensor(self.class_weight)


@MODELS.register_module()
class LogitAdjustedLoss(_CountsLoss):
    """Logit-adjusted cross-entropy (Menon et al., ICLR 2021).

    ``CE(z + tau * log(pi), y)`` with ``pi`` the training class prior: the
    rare classes' logits must win by a margin that grows as they get rarer.
    ``tau = 1`` is the balanced softmax (Ren et al., NeurIPS 2020); see also
    :class:`BalancedSoftmaxLoss`. Predict with the raw logits.

    Args:
        tau (float): Temperature of the adjustment. Defaults to 1.0.
        class_counts (Sequence[int] | str): Training samples per class, or
            ``'auto'``. Defaults to ``'auto'``.
        loss_weight (float): Defaults to 1.0.
        class_weight (Sequence[float], optional): Per-class weights.
    """

    def __init__(self, tau: float = 1.0, class_counts='auto',
                 loss_weight: float = 1.0, class_weight=None):
        super().__init__(class_counts, loss_weight, class_weight)
        check_number(type(self).__name__, 'tau', tau, 0)
        self.tau = tau

    def forward(self, cls_score, label, avg_factor=None, **kwargs):
        counts = self._check(cls_score)
        log_prior = (counts / counts.sum()).log()
        logits = cls_score + self.tau * log_prior
        return self.loss_weight * _soft_or_hard_ce(logits, label,
                                                   self._weight(cls_score))


@MODELS.register_module()
class BalancedSoftmaxLoss(LogitAdjustedLoss):
    """Balanced softmax (Ren et al., NeurIPS 2020): ``CE(z + log(n_c), y)``,
    the logit-adjusted loss with ``tau = 1``.

    Args:
        class_counts (Sequence[int] | str): Defaults to ``'auto'``.
        loss_weight (float): Defaults to 1.0.
        class_weight (Sequence[float], optional): Per-class weights.
    """

    def __init__(self, class_counts='auto', loss_weight: float = 1.0,
                 class_weight=None):
        super().__init__(1.0, class_counts, loss_weight, class_weight)


@MODELS.register_module()
class LDAMLoss(_CountsLoss):
    """Label-distribution-aware margin loss (Cao et al., NeurIPS 2019).

    The true class's logit is lowered by ``m_y = C / n_y^(1/4)`` with ``C``
    such that the largest margin is ``max_margin``, and the logits are
    scaled by ``scale`` (the LDAM-DRW CIFAR recipe: 0.5 and 30). The
    logits must be cosines, as in LDAM-DRW: use it with
    ``LongTailLinearClsHead(cosine=True)``; on an unnormalised linear
    classifier the scale of 30 makes training diverge (CIFAR-10-LT-100:
    the loss grew from 7 to 100 in 10 epochs, top-1 10 %). Deferred re-weighting (DRW) is
    :class:`mmace.engine.hooks.DeferredReweightingHook`, which sets
    ``class_weight`` at a given epoch. With soft scores (Mixup) each class
    ``c`` is lowered by ``target_c * m_c``.

    Args:
        max_margin (float): The largest margin. Defaults to 0.5.
        scale (float): Logit scale ``s``. Defaults to 30.
        class_counts (Sequence[int] | str): Defaults to ``'auto'``.
        loss_weight (float): Defaults to 1.0.
        class_weight (Sequence[float], optional): Per-class weights.
    """

    def __init__(self, max_margin: float = 0.5, scale: float = 30.0,
                 class_counts='auto', loss_weight: float = 1.0,
                 class_weight=None):
        super().__init__(class_counts, loss_weight, class_weight)
        owner = type(self).__name__
        check_number(owner, 'max_margin', max_margin, 0)
        check_number(owner, 'scale', scale, 0)
        self.max_margin = max_margin
        self.scale = scale

    def margins(self, counts: torch.Tensor) -> torch.Tensor:
        m = counts.pow(-0.25)
        return m * (self.max_margin / m.max())

    def forward(self, cls_score, label, avg_factor=None, **kwargs):
        counts = self._check(cls_score)
        margins = self.margins(counts)
        if label.dim() == 1:
            shift = F.one_hot(label, cls_score.size(1)).to(
                cls_score.dtype) * margins
        else:
            shift = label * margins
        logits = self.scale * (cls_score - shift)
        return self.loss_weight * _soft_or_hard_ce(logits, label,
                                                   self._weight(cls_score))
