"""Training class counts inside a model: one validation rule, one log prior,
one way in (a persistent buffer of the head, handed to its losses).

The counts themselves are computed by :mod:`mmace.datasets.class_counts`
(``LongTailRunner`` puts them into the config); this module is what the
heads and losses do with them.
"""
from numbers import Real

import numpy as np
import torch


def check_class_counts(owner: str, counts, num_classes: int = None,
                       key: str = 'class_counts') -> torch.Tensor:
    """The one rule for class counts, as a float64 ``[C]`` tensor.

    Counts are one finite, non-negative number per class with at least one
    sample in total. A class with no sample is allowed here (the ACE planner
    ranks it last); what needs its prior refuses it
    (:func:`require_positive`).

    Args:
        owner (str): The class checking, for messages.
        counts (Sequence | ndarray | Tensor): The counts.
        num_classes (int, optional): The expected length.
        key (str): The option's name in messages (e.g. the config key of
            ``num_classes``). Defaults to ``'class_counts'``.
    """
    if isinstance(counts, (str, bytes, dict)) or counts is None:
        raise TypeError(f"{owner}: class_counts={counts!r} must be 'auto' or "
                        'one count per class')
    if not torch.is_tensor(counts):
        values = np.asarray(counts, dtype=object).reshape(-1)
        for c, v in enumerate(values):
            if isinstance(v, bool) or not isinstance(v, (Real, np.number)):
                raise TypeError(f'{owner}: class_counts[{c}]={v!r} is not a '
                                'number')
        counts = np.asarray(counts, dtype=np.float64)
    counts = torch.as_tensor(counts).detach().cpu().to(torch.float64)
    if counts.dim() != 1:
        raise ValueError(f'{owner}: class_counts must be 1-D (one count per '
                         f'class), got shape {tuple(counts.shape)}')
    if num_classes is not None and counts.numel() != num_classes:
        raise ValueError(
            f'{owner}: class_counts has {counts.numel()} classes (the '
            "training set's, with class_counts='auto') but the head has "
            f'{key}={num_classes}; make them equal')
    bad = (~torch.isfinite(counts)) | (counts < 0)
    if bool(bad.any()):
        c = int(bad.nonzero()[0])
        raise ValueError(f'{owner}: class_counts[{c}]={counts[c].item()!r} '
                         'must be a finite, non-negative count')
    if not bool(counts.sum() > 0):
        raise ValueError(f'{owner}: class_counts must contain at least one '
                         'sample')
    return counts


def require_positive(owner: str, counts: torch.Tensor, why: str) -> None:
    """Refuse a class without training samples, naming it.

    Args:
        owner (str): The class checking, for messages.
        counts (Tensor): ``[C]`` counts (already :func:`check_class_counts`).
        why (str): The option that needs every class, e.g.
            ``'logit_adjust_tau'``.
    """
    zero = counts <= 0
    if bool(zero.any()):
        c = int(zero.nonzero()[0])
        raise ValueError(
            f'{owner}: {why} needs at least one training sample of every '
            f'class, but class {c} has none (class_counts[{c}]=0); its '
            'prior would be 0 and its log-prior -inf')


def log_prior(owner: str, counts: torch.Tensor, why: str) -> torch.Tensor:
    """``log(pi)``, the training class prior, as float32 ``[C]``.

    What logit adjustment adds (training: ``z + tau * log pi``) or
    subtracts (post hoc: ``z - tau * log pi``); every class must have a
    sample (:func:`require_positive`).

    Args:
        owner (str): The class asking, for messages.
        counts (Tensor): ``[C]`` counts (already :func:`check_class_counts`).
        why (str): The option that needs the prior, for messages.
    """
    counts = torch.as_tensor(counts, dtype=torch.float64)
    require_positive(owner, counts, why)
    return (counts / counts.sum()).log().float()


def resolve_counts(counts):
    """Counts given as a dataset (config) -> the training counts;
    sequences and tensors pass through."""
    if isinstance(counts, (torch.Tensor, np.ndarray, list, tuple)):
        return counts
    # Lazy: keeps the models importable without the datasets package.
    from mmace.datasets.class_counts import resolve_class_counts
    return resolve_class_counts(counts)


class ClassCountsMixin:
    """Training class counts as a persistent buffer of a head.

    The one way counts live in a model: the head keeps ``class_counts``
    (``[C]`` float, zeros until set), filled once from its config
    (:meth:`init_class_counts`; ``'auto'`` is filled by ``LongTailRunner``)
    or from a checkpoint (``load_state_dict``), and hands them to its
    losses: every child module with a ``set_class_counts`` method receives
    them when they are set or loaded. A checkpoint without the buffer (e.g.
    a stock ``LinearClsHead``'s) keeps the config's counts.

    A head sets ``num_classes`` before :meth:`init_class_counts`;
    ``counts_key`` names its ``num_classes`` in messages.
    """

    #: The config key of the head's ``num_classes``, for error messages.
    counts_key = 'model.head.num_classes'
    #: ``class_counts`` left out of a config means 'auto' (LongTailRunner).
    takes_class_counts = True
    #: Buffers that come with the counts (a checkpoint without them keeps
    #: the config's).
    count_buffers = ('class_counts', )

    def init_class_counts(self, class_counts) -> None:
        """Register the buffer and store ``class_counts`` unless 'auto'.

        Args:
            class_counts (Sequence[int] | ndarray | Tensor | dict | str,
                optional): Counts, a dataset (config), or ``'auto'`` / None
                (set later by ``LongTailRunner`` or a checkpoint).
        """
        if isinstance(class_counts, str) and class_counts != 'auto':
            raise ValueError(
                f'{type(self).__name__}: class_counts={class_counts!r} must '
                "be 'auto', the counts or a dataset (config)")
        self.register_buffer('class_counts', torch.zeros(self.num_classes))
        self._counts_set = False
        # 'auto' (the only string left) or None: set later (runner,
        # checkpoint).
        if class_counts is not None and not isinstance(class_counts, str):
            self.set_class_counts(class_counts)

    def set_class_counts(self, counts) -> None:
        """Store the training class counts and hand them to the losses.

        Args:
            counts (Sequence[int] | ndarray | Tensor | dict): ``num_classes``
                counts, or a dataset / dataset config resolved by
                :func:`mmace.datasets.class_counts.resolve_class_counts`.
        """
        counts = check_class_counts(
            type(self).__name__, resolve_counts(counts), self.num_classes,
            self.counts_key)
        self.plan_from_counts(counts)
        self.class_counts.copy_(counts)
        self._class_counts_set()

    def plan_from_counts(self, counts: torch.Tensor) -> None:
        """What a head derives from new counts (checkpoints carry it)."""

    def _class_counts_set(self) -> None:
        """Called once the counts are known (set or loaded): hand them, on
        the head's device, to the losses."""
        self._counts_set = True
        for module in self.children():
            if callable(getattr(module, 'set_class_counts', None)):
                module.set_class_counts(self.class_counts)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata,
                              strict, missing_keys, unexpected_keys,
                              error_msgs):
        super()._load_from_state_dict(state_dict, prefix, local_metadata,
                                      strict, missing_keys, unexpected_keys,
                                      error_msgs)
        if prefix + 'class_counts' not in state_dict:
            for name in self.count_buffers:
                if prefix + name in missing_keys:
                    missing_keys.remove(prefix + name)
            return
        if bool(self.class_counts.sum() > 0):
            self._class_counts_set()
        else:
            self._counts_set = False

    def _check_counts(self) -> None:
        if not self._counts_set:
            raise RuntimeError(
                f'{type(self).__name__} class counts were never provided. '
                "Train with runner_type='LongTailRunner' (fills "
                "class_counts='auto' from the training set), pass "
                'class_counts to the head, or load a checkpoint of a model '
                'trained with them.')
