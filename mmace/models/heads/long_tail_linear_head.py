from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F
from mmpretrain.models.heads import LinearClsHead
from mmpretrain.models.heads.margin_head import NormProduct
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from ..utils.checks import check_number
from ..utils.class_counts import ClassCountsMixin, log_prior
from .lws import LWSLinear


@MODELS.register_module()
class LongTailLinearClsHead(ClassCountsMixin, LinearClsHead):
    """``LinearClsHead`` with the decoupling family's classifier options.

    Two post-hoc corrections act on a plainly trained (e.g. cross-entropy)
    classifier without retraining, and only in ``predict`` (``loss`` and
    ``forward`` are ``LinearClsHead``'s):

    - ``posthoc_tau``: post-hoc logit adjustment (Menon et al., ICLR 2021),
      ``z - tau * log(pi)`` with ``pi`` the training class prior;
    - ``tau_norm``: the tau-normalised classifier (Kang et al., ICLR 2020),
      each class row ``w_c / ||w_c||^tau_norm`` (the bias is kept).

    The training class counts are kept as in the ACE heads
    (:class:`~mmace.models.utils.class_counts.ClassCountsMixin`): a
    persistent buffer filled once from ``class_counts`` or a checkpoint and
    handed to the loss (``LogitAdjustedLoss``, ``BalancedSoftmaxLoss``,
    ``LDAMLoss`` need them). A ``LinearClsHead`` checkpoint, which has no
    counts, keeps the config's: ``model.head.type='LongTailLinearClsHead'``
    plus the option, with ``tools/test.py CONFIG CE_CHECKPOINT``.

    ``cosine=True`` makes the classifier a cosine one (mmpretrain's
    ``NormProduct``: features and class rows L2-normalised, no bias), the
    classifier of LDAM-DRW (Cao et al.), whose ``LDAMLoss`` scales the
    logits (cosines in [-1, 1]) by ``s = 30``; with an unnormalised linear
    classifier that scale makes training diverge.

    ``lws=True`` makes the classifier an
    :class:`~mmace.models.heads.LWSLinear` that scales each class's whole
    logit, ``f_c * (w_c x + b_c)`` with ``f`` initialised to 1: the
    learnable weight scaling of Kang et al., trained in a second stage
    with everything else frozen (``SecondStageHook``). Its ``fc.weight`` and
    ``fc.bias`` keep ``LinearClsHead``'s names, so a first-stage checkpoint
    loads into it (``load_from``; ``fc.scale`` starts at 1).

    Args:
        num_classes (int): Number of categories.
        in_channels (int): Number of input channels.
        posthoc_tau (float): Logit-adjustment temperature; 0 switches it
            off. Defaults to 0.
        tau_norm (float, optional): Weight-normalisation power; None
            switches it off. Defaults to None.
        lws (bool): Learnable per-class logit scales. Defaults to False.
        cosine (bool): Cosine classifier. Defaults to False.
        class_counts (Sequence[int] | ndarray | Tensor | dict | str,
            optional): Training samples per class (``'auto'``: filled by
            ``LongTailRunner``); needed by ``posthoc_tau`` and by a loss
            shaped by them. Defaults to ``'auto'``.
        **kwargs: ``LinearClsHead`` arguments (``loss``, ``topk``, ...).
    """

    def __init__(self, num_classes: int, in_channels: int,
                 posthoc_tau: float = 0., tau_norm: Optional[float] = None,
                 lws: bool = False, cosine: bool = False,
                 class_counts='auto', **kwargs):
        super().__init__(num_classes, in_channels, **kwargs)
        owner = type(self).__name__
        if lws and cosine:
            raise ValueError(f'{owner}: lws and cosine cannot be combined')
        if lws:
            self.fc = LWSLinear(in_channels, num_classes, scale_bias=True)
        if cosine:
            self.fc = NormProduct(in_channels, num_classes, bias=False)
        self.lws = lws
        self.cosine = cosine
        check_number(owner, 'posthoc_tau', posthoc_tau, 0)
        if tau_norm is not None:
            check_number(owner, 'tau_norm', tau_norm, 0)
        self.posthoc_tau = posthoc_tau
        self.tau_norm = tau_norm
        self.register_buffer('log_prior', None, persistent=False)
        self.init_class_counts(class_counts)

    def _class_counts_set(self) -> None:
        super()._class_counts_set()
        # Computed (and checked) now where posthoc_tau needs it; else when
        # posthoc_tau is first switched on (a post-hoc sweep).
        self.log_prior = log_prior(
            type(self).__name__, self.class_counts,
            'posthoc_tau') if self.posthoc_tau > 0 else None

    def adjusted_logits(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        """The logits with the configured corrections."""
        pre = self.pre_logits(feats)
        weight = self.fc.weight
        if self.cosine:
            pre, weight = F.normalize(pre), F.normalize(weight)
        if self.tau_norm is not None:
            weight = weight / weight.norm(dim=1, keepdim=True).clamp(
                min=1e-12).pow(self.tau_norm)
        logits = F.linear(pre, weight, self.fc.bias)
        if self.lws:
            logits = logits * self.fc.scale
        if self.posthoc_tau > 0:
            self._check_counts()
            if self.log_prior is None:  # posthoc_tau switched on later
                self.log_prior = log_prior(type(self).__name__,
                                           self.class_counts, 'posthoc_tau')
            logits = logits - self.posthoc_tau * self.log_prior
        return logits

    def predict(self,
                feats: Tuple[torch.Tensor],
                data_samples: Optional[List[Optional[DataSample]]] = None
                ) -> List[DataSample]:
        return self._get_predictions(self.adjusted_logits(feats),
                                     data_samples)
