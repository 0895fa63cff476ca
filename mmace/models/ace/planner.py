"""ACE's distribution-aware planner (Cai et al., ICCV'21, Eq. 1) and the
per-expert data shares and learning-rate factors (Eq. 7 / Eq. 8).

Only ``torch`` is imported, so classification, detection and segmentation
heads share one implementation. Experts are 0-based in code (expert
``i + 1`` in the paper); ``masks`` is the ``[K, C]`` bool tensor of target
classes returned by :func:`plan_target_masks`.
"""
from typing import Optional, Sequence

import torch

LR_SCHEMES = ('linear', 'sqrt', 'uniform')
PLANNERS = ('classes', 'share')


def plan_target_masks(class_counts,
                      num_experts: int,
                      planner: str = 'classes',
                      share_thresholds: Optional[Sequence[float]] = None
                      ) -> torch.Tensor:
    """Distribution-aware planner (Eq. 1): target classes of each expert.

    Classes are ranked by training count, largest first; ties keep the
    class-index order (a stable sort), so the class indices themselves need
    not be sorted by frequency. Expert ``i`` (0-based) targets the classes
    from rank ``start_i`` to ``C - 1``: expert 0 targets every class, each
    later one drops more of the most frequent classes, and the rarest
    classes are targeted by every expert. ``K = 1`` is a plain classifier.

    - ``planner='classes'`` (Eq. 1 as printed): ``start_i = floor(i C / K)``,
      each expert drops the next ``~C / K`` classes.
    - ``planner='share'`` (the released code, ``main/train.py``): with
      :math:`r_j` the share of the training samples in the classes ranked
      ``j..C-1``, ``start_i`` is the last rank whose share is still above
      ``share_thresholds[i - 1]`` (:math:`r_j > t \\ge r_{j+1}`). The
      authors use ``[0.3, 0.05]`` (CIFAR-10-LT), ``[0.3, 0.03]``
      (CIFAR-100-LT-100) and ``[0.4, 0.1]`` (CIFAR-100-LT-50, ImageNet-LT,
      iNaturalist); on CIFAR-100-LT-100 ``[0.3, 0.03]`` starts experts 2
      and 3 at ranks 25 and 68 where Eq. 1 gives 33 and 66.

    Args:
        class_counts (Tensor | Sequence[int] | ndarray): ``[C]`` number of
            training samples of each class.
        num_experts (int): ``K``, with ``1 <= K <= C``.
        planner (str): ``'classes'`` or ``'share'``. Defaults to
            ``'classes'``.
        share_thresholds (Sequence[float], optional): ``K - 1`` decreasing
            sample shares in ``(0, 1)``, one per expert after the first;
            needed by ``planner='share'``.

    Returns:
        Tensor: ``[K, C]`` bool, ``masks[i, c]`` is True if expert ``i``
        targets class ``c``.
    """
    counts = torch.as_tensor(class_counts)
    if counts.dim() != 1:
        raise ValueError('class_counts must be 1-D (one count per class), '
                         f'got shape {tuple(counts.shape)}')
    num_classes = counts.numel()
    if not 1 <= num_experts <= num_classes:
        raise ValueError(f'num_experts={num_experts} must be between 1 and '
                         f'the number of classes C={num_classes}')
    if bool((counts < 0).any()):
        raise ValueError('class_counts must be non-negative')
    order = torch.sort(counts, descending=True, stable=True).indices
    rank = torch.empty_like(order)
    rank[order] = torch.arange(num_classes, device=order.device)
    if planner == 'classes':
        starts = torch.arange(num_experts, device=order.device) * \
            num_classes // num_experts
    elif planner == 'share':
        starts = torch.as_tensor(
            [0] + share_starts(counts[order], share_thresholds,
                               num_experts),
            device=order.device)
    else:
        raise ValueError(f'unknown planner {planner!r}, valid values are '
                         f'{list(PLANNERS)}')
    return rank[None, :] >= starts[:, None]


def check_share_thresholds(share_thresholds, num_experts: int) -> list:
    """``K - 1`` strictly decreasing shares in ``(0, 1)``, as floats."""
    if share_thresholds is None or isinstance(share_thresholds, str) or \
            len(share_thresholds) != num_experts - 1:
        raise ValueError(
            f"planner='share' needs share_thresholds with num_experts - 1 = "
            f'{num_experts - 1} values, one per expert after the first; got '
            f'{share_thresholds!r}')
    thresholds = [float(t) for t in share_thresholds]
    if any(not 0 < t < 1 for t in thresholds) or any(
            a <= b for a, b in zip(thresholds, thresholds[1:])):
        raise ValueError(f'share_thresholds={share_thresholds!r} must be '
                         'strictly decreasing shares between 0 and 1')
    return thresholds


def share_starts(sorted_counts, share_thresholds, num_experts: int) -> list:
    """First rank of experts ``2..K`` under ``planner='share'``.

    Args:
        sorted_counts (Tensor): ``[C]`` counts, largest first.
        share_thresholds (Sequence[float]): ``K - 1`` decreasing shares.
        num_experts (int): ``K``.

    Returns:
        list[int]: ``K - 1`` strictly increasing ranks in ``[1, C - 1]``.
    """
    thresholds = check_share_thresholds(share_thresholds, num_experts)
    counts = torch.as_tensor(sorted_counts, dtype=torch.float64)
    # remaining[j]: share of the samples in the classes ranked j..C-1.
    remaining = counts.flip(0).cumsum(0).flip(0) / counts.sum()
    starts = []
    for t in thresholds:
        # The last rank still above t (remaining is non-increasing).
        start = int((remaining > t).sum()) - 1
        if not starts and start < 1 or starts and start <= starts[-1] or \
                start >= counts.numel():
            raise ValueError(
                f'share_thresholds={share_thresholds!r}: the threshold {t} '
                f'gives an expert that starts at class rank {start}, which '
                'leaves it no classes of its own; choose other thresholds '
                'or fewer experts')
        starts.append(start)
    return starts


def expert_shares(class_counts, masks: torch.Tensor) -> torch.Tensor:
    """Fraction of the training samples each expert is trained with.

    :math:`s_i = \\sum_{c \\in C_i} n_c / \\sum_c n_c`, the factor of Eq. 7.

    Args:
        class_counts (Tensor | Sequence[int] | ndarray): ``[C]`` counts.
        masks (Tensor): ``[K, C]`` bool target masks.

    Returns:
        Tensor: ``[K]`` shares in the default float dtype, ``s_0 = 1`` for
        planner masks.
    """
    counts = torch.as_tensor(class_counts, device=masks.device).double()
    total = counts.sum()
    if not bool(total > 0):
        raise ValueError('class_counts must contain at least one sample')
    shares = (masks.double() * counts).sum(dim=1) / total
    return shares.to(torch.get_default_dtype())


def lr_scales(shares: torch.Tensor, scheme: str = 'linear') -> torch.Tensor:
    """Per-expert learning-rate factors (Eq. 7 and 8).

    Args:
        shares (Tensor): ``[K]`` data shares from :func:`expert_shares`.
        scheme (str): ``'linear'`` (Eq. 7, ACE): :math:`s_i`; ``'sqrt'``
            (Eq. 8): :math:`\\sqrt{s_i}`; ``'uniform'`` (Eq. 8): 1.

    Returns:
        Tensor: ``[K]`` factors that multiply the base learning rate.
    """
    shares = torch.as_tensor(shares)
    if scheme == 'linear':
        return shares.clone()
    if scheme == 'sqrt':
        return shares.sqrt()
    if scheme == 'uniform':
        return torch.ones_like(shares)
    raise ValueError(f'unknown lr scheme {scheme!r}, valid schemes are '
                     f'{list(LR_SCHEMES)}')
