"""Training class counts and planned target masks, kept by every ACE head."""
import numpy as np
import torch

from .ace import expert_shares, plan_target_masks


class ExpertCountsMixin:
    """Class counts + the planner's masks as buffers of an ACE head.

    ``ACEHead`` (classification), the mmdet ACE bbox heads and
    ``ACEFCNHead`` keep the training counts per class (``class_counts``,
    ``[C]``) and the Eq. 1 target masks (``target_masks``, ``[K, C]``) as
    persistent buffers, so a checkpoint alone suffices for inference. Zeros
    mean "unset" until :meth:`set_class_counts` or ``load_state_dict``
    fills them; a Python flag tells which, so the hot path never syncs with
    the device.

    A head sets ``num_classes`` and ``num_experts`` and calls
    :meth:`init_class_counts` in its ``__init__``; ``counts_key`` names its
    ``num_classes`` in error messages.
    """

    #: The config key of the head's ``num_classes``, for error messages.
    counts_key = 'model.head.num_classes'

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
        self.target_masks.copy_(plan_target_masks(counts, self.num_experts))
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
