"""Training class counts and planned target masks, kept by every ACE head."""
import warnings
from typing import List, Optional

import numpy as np
import torch
import torch.nn as nn

from .ace import (NORM_OVER, NORM_REDUCE, NORM_WEIGHTS, PLANNERS,
                  RESCALE_POWERS, check_share_thresholds, expert_shares,
                  plan_target_masks, rescale_factors)
from .checks import check_bool, check_choice, check_int

#: Default of the heads' deprecated loss keywords: "not given".
UNSET = object()

class ExpertCountsMixin:
    """Class counts + the planner's masks as buffers of an ACE head.

    ``ACEHead`` (classification), the mmdet ACE bbox heads and
    ``ACEFCNHead`` keep the training counts per class (``class_counts``,
    ``[C]``) and the Eq. 1 target masks (``target_masks``, ``[K, C]``) as
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
      see :func:`mmace.models.utils.ace.plan_target_masks`. ``'classes'``
      (the paper's Eq. 1) or ``'share'`` with ``K - 1`` sample-share
      thresholds (the released code).
    - ``rescale``, ``norm_reduce``, ``norm_over``, ``rescale_inverse``,
      ``norm_weight``: the Eq. 2 reading, see
      :func:`mmace.models.utils.ace.rescale_factors`. ``norm_weight``:
      ``'scaled'`` measures the LWS-scaled weight ``scale * W`` (what the
      logits use), ``'raw'`` the weight ``W`` alone (the released code).
    - ``readout_expert``: diagnosis (Table 5): inference uses expert ``i``
      (1-based) alone, its interfering classes at -1e4 so they are never
      predicted; None (default) is the ACE aggregate.
    - the ACE loss (``loss`` in ``ACEHead``, ``loss_ace`` in the dense
      heads): a :class:`mmace.models.losses.ACELoss` config with
      ``loss_weight`` (Eq. 4), ``com_weight`` (Eq. 5), ``complement_form``
      and ``split_specific``.
    """

    #: The config key of the head's ``num_classes``, for error messages.
    counts_key = 'model.head.num_classes'
    #: ``class_counts`` left out of a config means 'auto' (LongTailRunner).
    takes_class_counts = True

    def init_ace_options(self,
                         rescale: Optional[str] = 'plain',
                         norm_reduce: str = 'sum',
                         norm_over: str = 'target',
                         rescale_inverse: bool = False,
                         norm_weight: str = 'scaled',
                         planner: str = 'classes',
                         share_thresholds=None,
                         readout_expert: Optional[int] = None) -> None:
        """Check and store the options shared by every ACE head."""
        owner = type(self).__name__
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

    def build_ace_loss(self, loss, key: str, **legacy) -> nn.Module:
        """The head's :class:`ACELoss` from its config (or module).

        Args:
            loss (dict | nn.Module): The ``ACELoss`` config or module.
            key (str): The head's name for it (``'loss'``, ``'loss_ace'``),
                for messages.
            **legacy: Deprecated keywords, each ``(ACELoss key, value)`` or
                :data:`UNSET`; given ones are folded into the config with a
                ``DeprecationWarning``.
        """
        owner = type(self).__name__
        given = {k: v for k, v in legacy.items() if v is not UNSET}
        if isinstance(loss, nn.Module):
            if given:
                raise ValueError(
                    f'{owner}: {", ".join(given)} cannot be combined with '
                    f'a built {key} module; set them in the module')
            return loss
        if not isinstance(loss, dict):
            raise TypeError(f'{owner}: {key} must be an ACELoss config '
                            f'(dict), got {loss!r}')
        cfg = dict(loss)
        cfg.setdefault('type', 'ACELoss')  # e.g. loss=dict(com_weight=0.)
        for old, (new, value) in given.items():
            warnings.warn(
                f'{owner}: {old}= is deprecated; use '
                f"{key}=dict(type='ACELoss', {new}=...)", DeprecationWarning)
            cfg[new] = value
        from mmpretrain.registry import MODELS
        from mmengine.registry import DefaultScope
        # Build in mmpretrain's registry whatever the current scope (a det
        # or seg runner sets 'mmdet' / 'mmseg').
        with DefaultScope.overwrite_default_scope('mmpretrain'):
            return MODELS.build(cfg)

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
                self.target_masks, RESCALE_POWERS[self.rescale],
                self.norm_over, self.norm_reduce, self.rescale_inverse)

    def init_class_counts(self, class_counts) -> None:
        """Register the buffers and store ``class_counts`` unless 'auto'.

        Args:
            class_counts (Sequence[int] | ndarray | Tensor | dict | str,
                optional): Counts, a dataset (config), or ``'auto'`` / None
                (set later by ``LongTailRunner`` or a checkpoint).
        """
        self.register_buffer('class_counts', torch.zeros(self.num_classes))
        masks = torch.zeros(
            self.num_experts, self.num_classes, dtype=torch.bool)
        if self.num_experts == 1:
            masks[:] = True  # a single expert targets every class
        self.register_buffer('target_masks', masks)
        self._counts_set = False
        if class_counts is not None and not (isinstance(class_counts, str)
                                             and class_counts == 'auto'):
            self.set_class_counts(class_counts)

    def set_class_counts(self, counts) -> None:
        """Store the training class counts and plan the target masks.

        Args:
            counts (Sequence[int] | ndarray | Tensor | dict): ``num_classes``
                counts, or a dataset / dataset config resolved by
                :func:`mmace.datasets.class_counts.resolve_class_counts`.
        """
        if not isinstance(counts, (torch.Tensor, np.ndarray, list, tuple)):
            # Lazy: keeps the heads importable without the datasets package.
            from mmace.datasets.class_counts import resolve_class_counts
            counts = resolve_class_counts(counts)
        counts = torch.as_tensor(counts, dtype=torch.float64).flatten()
        if counts.numel() != self.num_classes:
            raise ValueError(
                f'class_counts has {counts.numel()} classes (the training '
                "set's, with class_counts='auto') but the head has "
                f'{self.counts_key}={self.num_classes}; make them equal')
        if bool((counts < 0).any()) or not bool(counts.sum() > 0):
            raise ValueError('class_counts must be non-negative with at '
                             'least one sample')
        self.class_counts.copy_(counts)
        try:
            masks = plan_target_masks(
                counts, self.num_experts,
                getattr(self, 'planner', 'classes'),
                getattr(self, 'share_thresholds', None))
        except ValueError as e:
            raise ValueError(f'{type(self).__name__}: {e}') from None
        self.target_masks.copy_(masks)
        self._counts_set = True

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        self._counts_set = bool(self.class_counts.sum() > 0)

    def _check_counts(self) -> None:
        if not self._counts_set:
            raise RuntimeError(
                f'{type(self).__name__} class counts were never provided, so '
                'the experts have no target classes. Train with '
                "runner_type='LongTailRunner' (fills class_counts='auto' "
                'from the training set), pass class_counts to the head, or '
                'load a checkpoint of a trained ACE model.')

    def expert_shares(self) -> torch.Tensor:
        """``[K]`` share of the training samples (images, instances or
        pixels) in each expert's target classes (Eq. 7)."""
        self._check_counts()
        return expert_shares(self.class_counts, self.target_masks)
