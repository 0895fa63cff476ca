"""What every ACE head (cls, det, seg) shares: the training class counts,
the planned target masks, the shared options and the read-out helpers."""
from typing import List, Optional

import torch
import torch.nn as nn

from ..utils.checks import check_bool, check_choice, check_int
from ..utils.class_counts import ClassCountsMixin
from .planner import PLANNERS, check_share_thresholds, expert_shares, \
    plan_target_masks
from .readout import (NORM_OVER, NORM_REDUCE, NORM_WEIGHTS, RESCALE_POWERS,
                      rescale_factors)


#: The options every ACE head shares (:meth:`ACEHeadMixin.init_ace_options`).
ACE_OPTIONS = ('rescale', 'norm_reduce', 'norm_over', 'rescale_inverse',
               'norm_weight', 'planner', 'share_thresholds', 'readout_expert')


class ACEHeadMixin(ClassCountsMixin):
    """What every ACE head shares: counts, target masks, options, read-out.

    ``ACEHead`` (classification), the mmdet ACE bbox heads and
    ``ACEFCNHead`` keep the training counts per class (``class_counts``,
    ``[C]``, see :class:`mmace.models.utils.class_counts.ClassCountsMixin`)
    and the Eq. 1 target masks (``target_masks``, ``[K, C]``) as
    persistent buffers, so a checkpoint alone suffices for inference. Zeros
    mean "unset" until :meth:`set_class_counts` or ``load_state_dict``
    fills them; a Python flag tells which, so the hot path never syncs with
    the device.

    A head sets ``num_classes`` and ``num_experts``, calls
    :meth:`init_ace_options` (the options every ACE head shares, with the
    same names and meanings in the cls, det and seg heads) and then
    :meth:`init_class_counts` in its ``__init__``; ``counts_key`` names its
    ``num_classes`` in error messages.

    The shared options (each head's docstring points here):

    - ``planner`` / ``share_thresholds``: how Eq. 1 assigns target classes,
      see :func:`mmace.models.ace.plan_target_masks`. ``'classes'``
      (the paper's Eq. 1) or ``'share'`` with ``K - 1`` sample-share
      thresholds (the released code).
    - ``rescale``, ``norm_reduce``, ``norm_over``, ``rescale_inverse``,
      ``norm_weight``: the Eq. 2 reading, see
      :func:`mmace.models.ace.rescale_factors`. ``norm_weight``:
      ``'scaled'`` measures the LWS-scaled weight ``scale * W`` (what the
      logits use), ``'raw'`` the weight ``W`` alone (the released code).
    - ``readout_expert``: diagnosis (Table 5): inference uses expert ``i``
      (1-based) alone, its interfering classes at -1e4 so they are never
      predicted; None (default) is the ACE aggregate.
    - the ACE loss (``loss`` in ``ACEHead``, ``loss_ace`` in the dense
      heads): a :class:`mmace.models.losses.ACELoss` config with
      ``loss_weight`` (Eq. 4), ``complement`` (Eq. 5, a
      :class:`mmace.models.losses.ComplementLoss` config with its ``form``
      and ``loss_weight``; None: no complement term), ``split_specific``
      and ``logit_adjust_tau``.
    """

    count_buffers = ('class_counts', 'target_masks')

    def init_num_experts(self, num_experts, num_classes: int) -> int:
        """Check and store ``num_experts`` (``K``, between 1 and C)."""
        owner = type(self).__name__
        num_experts = check_int(owner, 'num_experts', num_experts, 1)
        if num_experts > num_classes:
            raise ValueError(
                f'{owner}: num_experts={num_experts} must be between 1 and '
                f'num_classes={num_classes}: every expert needs at least '
                'one target class')
        self.num_experts = num_experts
        return num_experts

    @staticmethod
    def pop_ace_options(kwargs: dict) -> dict:
        """Take the shared options out of a head's ``**kwargs`` (the rest
        goes to the mmdet / mmseg parent head)."""
        return {k: kwargs.pop(k) for k in ACE_OPTIONS if k in kwargs}

    def init_ace_options(self,
                         rescale: Optional[str] = 'plain',
                         norm_reduce: str = 'sum',
                         norm_over: str = 'target',
                         rescale_inverse: bool = False,
                         norm_weight: str = 'scaled',
                         planner: str = 'classes',
                         share_thresholds=None,
                         readout_expert: Optional[int] = None,
                         **unknown) -> None:
        """Check and store the options shared by every ACE head (their
        one signature and defaults)."""
        owner = type(self).__name__
        if unknown:
            raise TypeError(f'{owner}: unknown option(s) {sorted(unknown)}')
        if readout_expert is not None:
            check_int(owner, 'readout_expert', readout_expert, 1)
            if readout_expert > self.num_experts:
                raise ValueError(
                    f'{owner}: readout_expert={readout_expert} must be '
                    f'between 1 and num_experts={self.num_experts}')
        self.readout_expert = readout_expert
        check_choice(owner, 'rescale', rescale, RESCALE_POWERS)
        check_choice(owner, 'norm_reduce', norm_reduce, NORM_REDUCE)
        check_choice(owner, 'norm_over', norm_over, NORM_OVER)
        check_bool(owner, 'rescale_inverse', rescale_inverse)
        check_choice(owner, 'norm_weight', norm_weight, NORM_WEIGHTS)
        check_choice(owner, 'planner', planner, PLANNERS)
        if planner == 'share':
            if not isinstance(share_thresholds, (list, tuple)) or not all(
                    isinstance(t, (int, float)) and not isinstance(t, bool)
                    for t in share_thresholds):
                raise TypeError(
                    f"{owner}: planner='share' needs share_thresholds, a "
                    f'list of {self.num_experts - 1} numbers (one per '
                    f'expert after the first), got {share_thresholds!r}')
            try:
                # The classes are checked when the counts arrive.
                check_share_thresholds(share_thresholds, self.num_experts)
            except ValueError as e:
                raise ValueError(f'{owner}: {e}') from None
        elif share_thresholds is not None:
            raise ValueError(f'{owner}: share_thresholds={share_thresholds!r}'
                             " is only used with planner='share' (planner="
                             f'{planner!r})')
        self.rescale = rescale
        self.norm_reduce = norm_reduce
        self.norm_over = norm_over
        self.rescale_inverse = rescale_inverse
        self.norm_weight = norm_weight
        self.planner = planner
        self.share_thresholds = None if share_thresholds is None else tuple(
            float(t) for t in share_thresholds)

    def build_ace_loss(self, loss, key: str) -> nn.Module:
        """The head's :class:`ACELoss` from its config (or module).

        Args:
            loss (dict | nn.Module): The ``ACELoss`` config or module.
            key (str): The head's name for it (``'loss'``, ``'loss_ace'``),
                for messages.
        """
        owner = type(self).__name__
        if isinstance(loss, nn.Module):
            return loss
        if not isinstance(loss, dict):
            raise TypeError(f'{owner}: {key} must be an ACELoss config '
                            f'(dict), got {loss!r}')
        cfg = dict(loss)
        cfg.setdefault('type', 'ACELoss')
        # mmpretrain's registry whatever the current scope (a det or seg
        # runner sets 'mmdet' / 'mmseg').
        cfg.setdefault('_scope_', 'mmpretrain')
        from mmpretrain.registry import MODELS
        return MODELS.build(cfg)

    def refuse_logit_adjust(self, key: str, reason: str) -> None:
        """Refuse ``ACELoss(logit_adjust_tau > 0)`` where this head does not
        train expert 1 with the ACE loss (``reason`` says what does)."""
        tau = getattr(getattr(self, key), 'logit_adjust_tau', 0)
        if tau > 0:
            raise ValueError(
                f'{type(self).__name__}: {key}.logit_adjust_tau={tau} '
                f"adjusts expert 1's cross-entropy, but {reason}; set "
                'logit_adjust_tau=0')

    def readout_logits(self, expert_logits: List[torch.Tensor],
                       class_dim: int = 1) -> torch.Tensor:
        """Expert ``readout_expert``'s logits, interfering classes at -1e4
        (a finite value: softmax and log-softmax stay NaN-free)."""
        i = self.readout_expert - 1
        view = [1] * expert_logits[i].dim()
        view[class_dim] = -1
        interfering = ~self.target_masks[i].to(expert_logits[i].device)
        return expert_logits[i].masked_fill(interfering.view(view), -1e4)

    def compute_rescale_factors(self, scaled: List[torch.Tensor],
                                raw: List[torch.Tensor]
                                ) -> Optional[torch.Tensor]:
        """``[K]`` Eq. 2 factors under the head's options (None: off).

        Args:
            scaled (list[Tensor]): Each expert's LWS-scaled weight.
            raw (list[Tensor]): Each expert's weight without the LWS scale.
        """
        if self.rescale is None:
            return None
        with torch.no_grad():
            weights = scaled if self.norm_weight == 'scaled' else raw
            return rescale_factors(
                torch.stack([w.detach() for w in weights]),
                self.target_masks,
                rescale=self.rescale,
                norm_over=self.norm_over,
                norm_reduce=self.norm_reduce,
                rescale_inverse=self.rescale_inverse)

    def init_class_counts(self, class_counts) -> None:
        """Register the count and mask buffers; store ``class_counts``
        unless 'auto' (see :class:`ClassCountsMixin`)."""
        masks = torch.zeros(
            self.num_experts, self.num_classes, dtype=torch.bool)
        if self.num_experts == 1:
            masks[:] = True  # a single expert targets every class
        self.register_buffer('target_masks', masks)
        super().init_class_counts(class_counts)

    def plan_from_counts(self, counts: torch.Tensor) -> None:
        """Plan the target masks (Eq. 1) of new counts."""
        try:
            masks = plan_target_masks(counts, self.num_experts, self.planner,
                                      self.share_thresholds)
        except ValueError as e:
            raise ValueError(f'{type(self).__name__}: {e}') from None
        self.target_masks.copy_(masks)

    def expert_shares(self) -> torch.Tensor:
        """``[K]`` share of the training samples (images, instances or
        pixels) in each expert's target classes (Eq. 7)."""
        self._check_counts()
        return expert_shares(self.class_counts, self.target_masks)
