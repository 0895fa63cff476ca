"""Framework-neutral ACE math (Cai et al., ICCV'21, Sec. 3.2-3.4).

Only ``torch`` is imported here so that classification, detection and
segmentation heads can share one implementation. Every function that takes
logits accepts the class axis anywhere (``class_dim``), e.g. ``[N, C]`` image
logits or ``[N, C, H, W]`` per-pixel logits. Sub-batches are never gathered:
an expert's sub-batch :math:`\\mathcal{B}_i` is a per-sample weight (its
*membership*), so everything stays vectorised and every expert sees every
sample of the batch, most of them with weight 0.

Conventions: ``K`` experts, ``C`` classes, expert ``i`` is 0-based in code
(expert ``i + 1`` in the paper) and ``masks`` is the ``[K, C]`` bool tensor of
target classes returned by :func:`plan_target_masks`.
"""
from typing import Dict, Optional, Sequence, Union

import torch

LR_SCHEMES = ('linear', 'sqrt', 'uniform')
NORM_OVER = ('target', 'all')
NORM_REDUCE = ('mean', 'sum')
AGGREGATIONS = ('avg', 'max', 'concat', 'gated')
PLANNERS = ('classes', 'share')
COMPLEMENT_FORMS = ('squared', 'norm')
NORM_WEIGHTS = ('scaled', 'raw')
#: A head's ``rescale`` option -> the ``power`` of :func:`rescale_factors`.
RESCALE_POWERS = {'squared': 2, 'plain': 1, None: 0}


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


def rescale_factors(weights: Union[torch.Tensor, Sequence[torch.Tensor]],
                    masks: torch.Tensor,
                    power: float = 1,
                    norm_over: str = 'target',
                    reduce: str = 'sum',
                    inverse: bool = False) -> torch.Tensor:
    """Logit rescaling factors of Eq. 2.

    Eq. 2 scales expert ``i``'s logits by :math:`\\|w_i\\|^2 /
    \\|w_1\\|^2` "to have comparable scales". The paper leaves open which
    norm (squared or plain) and over which rows; with ``p`` the power:

    - ``reduce='sum'``: :math:`f_i = (\\|W_i\\|_F / \\|W_1\\|_F)^p`, the
      Frobenius norm over the rows. Over the target rows it also carries the
      number of classes: an expert with a third of the classes and rows as
      strong as expert 1's gets :math:`(1/3)^{p/2}`.
    - ``reduce='mean'`` (per class): :math:`m_i` is the mean of
      :math:`\\|w_{i,c}\\|^p` over the rows and :math:`f_i = m_i / m_1`,
      which compares the strength of the rows alone.

    ``inverse=True`` returns :math:`1 / f_i`. The released code
    (``valid_model`` in ``lib/core/function.py``) scales expert ``i`` by
    the mean plain row norm of expert 1 over the mean plain row norm of
    expert ``i`` over its target rows, i.e. ``p = 1``, ``reduce='mean'``,
    ``norm_over='target'``, ``inverse=True``, on the raw (not LWS-scaled)
    weights: the inverse of the printed direction.

    The defaults (``p = 1``, ``'sum'`` over the target rows, printed
    direction) are what :class:`ACEHead` uses; its docstring gives the runs
    behind them.

    Args:
        weights (Tensor | Sequence[Tensor]): ``[K, C, D...]`` effective
            classifier weights (e.g. LWS scale times weight; trailing dims of
            1x1 convs are flattened).
        masks (Tensor): ``[K, C]`` bool target masks.
        power (float): ``p``: 1 plain norms, 2 squared norms (the paper's
            formula), 0 no rescaling (all ones). Defaults to 1.
        norm_over (str): ``'target'``: expert ``i``'s target rows only (its
            interfering rows are pushed towards 0 by :math:`L_{com}` and are
            never used for its outputs); ``'all'``: every row (then
            ``'mean'`` and ``'sum'`` give the same factors for ``p = 2``
            only). Defaults to ``'target'``.
        reduce (str): ``'sum'`` or ``'mean'``, see above.
            Defaults to ``'sum'``.
        inverse (bool): Return the reciprocal factors (the released code's
            direction). Defaults to False.

    Returns:
        Tensor: ``[K]`` factors, ``f_0 = 1``.
    """
    if norm_over not in NORM_OVER:
        raise ValueError(f'unknown norm_over {norm_over!r}, valid values are '
                         f'{list(NORM_OVER)}')
    if reduce not in NORM_REDUCE:
        raise ValueError(f'unknown norm reduce {reduce!r}, valid values are '
                         f'{list(NORM_REDUCE)}')
    if not torch.is_tensor(weights):
        weights = torch.stack(list(weights))
    if power == 0:
        return weights.new_ones(weights.size(0))
    row_sq = weights.flatten(2).pow(2).sum(dim=2)  # [K, C]
    rows = masks.to(row_sq.device, row_sq.dtype) if norm_over == 'target' \
        else torch.ones_like(row_sq)
    if reduce == 'sum':
        strength = (row_sq * rows).sum(dim=1).pow(power / 2)
    else:
        strength = (row_sq.pow(power / 2) * rows).sum(dim=1) / rows.sum(
            dim=1).clamp(min=1)
    if inverse:
        return strength[0] / strength.clamp(min=torch.finfo(
            strength.dtype).tiny)
    return strength / strength[0]


def _stack_experts(expert_logits, masks, factors, class_dim):
    """Stack K logits to ``[K, *shape]`` plus broadcastable masks/factors."""
    z = torch.stack(list(expert_logits))
    num_experts = z.size(0)
    # The class axis of the stacked [K, ...] logits.
    axis = class_dim + 1 if class_dim >= 0 else z.dim() + class_dim
    if masks.shape != (num_experts, z.size(axis)):
        raise ValueError(f'masks of shape {tuple(masks.shape)} do not match '
                         f'{num_experts} experts with logits of shape '
                         f'{tuple(z.shape[1:])} (class_dim={class_dim})')
    # [K, 1, .., C, .., 1]: broadcasts along the class axis.
    view = [1] * z.dim()
    view[0], view[axis] = num_experts, masks.size(1)
    m = masks.to(z.device, torch.bool).view(view)
    if factors is not None:
        f = torch.as_tensor(factors, dtype=z.dtype, device=z.device)
        z = z * f.view([num_experts] + [1] * (z.dim() - 1))
    return z, m, axis


def aggregate_logits(expert_logits: Sequence[torch.Tensor],
                     masks: torch.Tensor,
                     factors: Optional[torch.Tensor] = None,
                     mode: str = 'avg',
                     class_dim: int = 1) -> torch.Tensor:
    """Merge the experts' logits into one prediction (Eq. 3, Table 7).

    With :math:`\\hat z_i = f_i z_i` (``factors``, Eq. 2; None means
    :math:`f_i = 1`) and :math:`S^c` the experts that target class ``c``:

    - ``'avg'`` (Eq. 3, ACE): :math:`o^c` is the mean of :math:`\\hat z_i^c`
      over :math:`S^c`. Table 7 (4) "avg w/o scaling" is ``factors=None``.
    - ``'max'`` (Table 7 (2)): the maximum over :math:`S^c`.
    - ``'concat'`` (Table 7 (3)): class ``c`` comes from the one expert whose
      dominant group holds it, i.e. the last (highest-index) expert of
      :math:`S^c`. The paper's formula uses unscaled logits, so pass
      ``factors=None`` to reproduce it.

    - ``'gated'`` (not in the paper): expert 1 keeps the probability mass it
      gives to the classes that other experts also target,
      :math:`T = \\bigcup_{i>1} C_i`, and the Eq. 3 average ``o``
      redistributes that mass inside :math:`T`:
      :math:`p^c = p_1^c` for :math:`c \\notin T` and
      :math:`p^c = p_1(T)\\,\\mathrm{softmax}_T(o)^c` for
      :math:`c \\in T`, returned as :math:`\\log p`. Experts 2..K are only
      trained on samples of their own classes, so on a sample of a class
      outside :math:`T` their logits are unconstrained; here they can only
      re-rank classes inside :math:`T`, never take mass from expert 1's
      many-shot classes. It is the detection head's background rule with
      the classes outside :math:`T` in the role of background. It is the
      default of the segmentation head (CamVid: above expert 1 alone, where
      ``'avg'`` fell far below it); for classification ``'avg'`` stays the
      default (``'gated'`` only matched expert 1 on CIFAR-10-LT-100).

    A class that no expert targets gets 0 (avg, concat) or -inf (max);
    planner masks always cover every class.

    Args:
        expert_logits (Sequence[Tensor]): K logits of the same shape, e.g.
            ``[N, C]`` or ``[N, C, H, W]``.
        masks (Tensor): ``[K, C]`` bool target masks.
        factors (Tensor, optional): ``[K]`` factors. Defaults to None.
        mode (str): ``'avg'``, ``'max'``, ``'concat'`` or ``'gated'``.
            Defaults to ``'avg'``.
        class_dim (int): The class axis of each logit tensor. Defaults to 1.

    Returns:
        Tensor: The aggregated logits, same shape as one expert's.
    """
    if mode not in AGGREGATIONS:
        raise ValueError(f'unknown aggregation {mode!r}, valid modes are '
                         f'{list(AGGREGATIONS)}')
    z, m, axis = _stack_experts(expert_logits, masks, factors, class_dim)
    if mode in ('avg', 'gated'):
        mf = m.to(z.dtype)
        avg = (z * mf).sum(dim=0) / mf.sum(dim=0).clamp(min=1)
        if mode == 'avg':
            return avg
        # Expert 1's factor is 1, so z[0] is its own logits.
        log_p1 = z[0].log_softmax(dim=axis - 1)
        shared = m[1:].any(dim=0)  # T, broadcastable like one expert's
        if not bool(shared.any()):
            return log_p1
        shared = shared.expand_as(log_p1)
        log_mass = log_p1.masked_fill(~shared, float('-inf')).logsumexp(
            dim=axis - 1, keepdim=True)
        log_q = avg.masked_fill(~shared, float('-inf')).log_softmax(
            dim=axis - 1)
        return torch.where(shared, log_mass + log_q, log_p1)
    if mode == 'max':
        return z.masked_fill(~m, float('-inf')).amax(dim=0)
    # Owner of c: the expert targeting c with no later expert targeting it.
    later = m.flip(0).long().cumsum(dim=0).flip(0)  # experts >= i on c
    owner = m & (later == 1)
    return (z * owner.to(z.dtype)).sum(dim=0)


def expert_probs(expert_logits: Sequence[torch.Tensor],
                 masks: torch.Tensor,
                 factors: Optional[torch.Tensor] = None,
                 class_dim: int = 1) -> torch.Tensor:
    """Each expert's own prediction, for per-expert metrics (Table 5).

    The softmax is taken over the expert's target classes only and its
    interfering classes get probability 0, so an expert that never sees the
    many-shot classes scores 0 on them, as expert 3 in Table 5.

    Args:
        expert_logits (Sequence[Tensor]): K logits of the same shape.
        masks (Tensor): ``[K, C]`` bool target masks.
        factors (Tensor, optional): ``[K]`` factors applied before the
            softmax. Defaults to None.
        class_dim (int): The class axis of each logit tensor. Defaults to 1.

    Returns:
        Tensor: ``[K, *shape]`` probabilities (expert axis first).
    """
    z, m, axis = _stack_experts(expert_logits, masks, factors, class_dim)
    return z.masked_fill(~m, float('-inf')).softmax(dim=axis)


def _to_rows(x: torch.Tensor, class_dim: int) -> torch.Tensor:
    """``[..., C, ...]`` -> ``[M, C]`` (class axis last, rest flattened)."""
    return x.movedim(class_dim, -1).reshape(-1, x.size(class_dim))


def ace_losses(expert_logits: Sequence[torch.Tensor],
               targets: torch.Tensor,
               masks: torch.Tensor,
               class_dim: int = 1,
               split_specific: bool = False,
               ignore_index: Optional[int] = None,
               complement_form: str = 'squared',
               ce_offsets: Optional[torch.Tensor] = None,
               eps: float = 1e-12) -> Dict[str, torch.Tensor]:
    """Per-expert classification (Eq. 4) and complement (Eq. 5) losses.

    Each sample (or pixel) ``n`` carries a label distribution
    :math:`y_n` (a one-hot row for hard labels; Mixup/CutMix give
    ``lam * onehot(a) + (1 - lam) * onehot(b)``). For expert ``i``:

    - membership :math:`m_n = \\sum_{c \\in C_i} y_{nc}`: 1 or 0 for a hard
      label in / not in :math:`C_i` (so the hard-label sub-batch is exactly
      :math:`\\mathcal{B}_i`), and ``lam * [a in C_i] + (1 - lam) *
      [b in C_i]`` for a Mixup pair.
    - :math:`CE_n = -\\sum_{c \\in C_i} y_{nc} \\log \\sigma(z_i)_{nc}` with
      the softmax over the *full* logit vector (Eq. 4): the label mass outside
      :math:`C_i` is dropped, i.e. a Mixup sample contributes the
      ``lam``-weighted sum of its two labels' terms, each masked by
      membership in :math:`C_i`.
    - :math:`COM_n = m_n \\sum_{c \\notin C_i} z_{i,nc}^2` (Eq. 5), the
      interfering logits of the expert's own sub-batch pushed to 0.
    - ``cls_i = sum_n CE_n / sum_n m_n``: the sub-batch mean, so hard labels
      reduce exactly to Eq. 4 averaged over :math:`\\mathcal{B}_i`.
    - ``complement_form='squared'`` (Eq. 5 as printed): ``com_i = sum_n
      COM_n / sum_n m_n``, the sub-batch mean of the squared sums.
    - ``complement_form='norm'`` (the released code's ``ResCELoss``):
      ``com_i = sqrt(sum_n COM_n) / |IC_i|``, the plain Frobenius norm of
      the interfering logits over the whole sub-batch, divided by the number
      of interfering classes :math:`|IC_i| = C - |C_i|` (0 for expert 1).
      It grows with the square root of the sub-batch size instead of being
      a mean, and its gradient does not vanish as the logits approach 0.
    - Denominators are clamped to ``eps``: an empty sub-batch gives exactly
      0 (not NaN) while its (zero) gradient still reaches every parameter,
      so DDP sees all of them in every step.

    Hard labels are gathered rather than expanded to one-hot rows, so dense
    targets (``[N, H, W]``) cost no ``[N, C, H, W]`` label tensor.

    Args:
        expert_logits (Sequence[Tensor]): K logits of the same shape, e.g.
            ``[N, C]`` or ``[N, C, H, W]``.
        targets (Tensor): Hard integer labels shaped like the logits without
            the class axis, or soft scores shaped like the logits.
        masks (Tensor): ``[K, C]`` bool target masks.
        class_dim (int): The class axis of the logits. Defaults to 1.
        split_specific (bool): Split-specific classifiers (SSC, Table 5):
            the softmax runs over :math:`C_i` only (interfering logits are
            excluded, as if those classifier rows did not exist) and ``com``
            is 0. Defaults to False.
        ignore_index (int, optional): Hard labels equal to it get weight 0
            (for dense / segmentation targets). Defaults to None.
        complement_form (str): ``'squared'`` or ``'norm'``, see above.
            Defaults to ``'squared'``.
        ce_offsets (Tensor, optional): ``[K, C]`` added to each expert's
            logits inside the cross-entropy only (logit adjustment, e.g.
            ``tau * log(prior)``); the complement term sees the raw logits.
            Defaults to None.
        eps (float): Floor of the denominators. Defaults to 1e-12.

    Returns:
        dict[str, Tensor]: ``cls``, ``com``: ``[K]`` losses; ``size``: ``[K]``
        (soft) sub-batch sizes :math:`\\sum_n m_n`, detached.
    """
    # fp32: under AMP the squared logits of Eq. 5 could overflow fp16.
    z = torch.stack([_to_rows(x, class_dim) for x in expert_logits]).float()
    num_experts, _, num_classes = z.shape  # z: [K, M, C]
    masks = masks.to(z.device, torch.bool)
    if masks.shape != (num_experts, num_classes):
        raise ValueError(f'masks of shape {tuple(masks.shape)} do not match '
                         f'{num_experts} experts x {num_classes} classes')
    logits_dim = expert_logits[0].dim()

    zc = z if ce_offsets is None else \
        z + ce_offsets.to(z.device, z.dtype)[:, None, :]
    if split_specific:
        logp = zc.masked_fill(~masks[:, None, :], float('-inf'))
        # Interfering entries are -inf: zero them so 0 * -inf never occurs.
        logp = logp.log_softmax(dim=-1).masked_fill(~masks[:, None, :], 0.)
    else:
        logp = zc.log_softmax(dim=-1)

    if targets.dim() == logits_dim - 1 and not targets.is_floating_point():
        # Hard labels: gather instead of a one-hot [M, C] (dense targets).
        labels = targets.reshape(-1).to(z.device).long()
        valid = torch.ones_like(labels, dtype=torch.bool) \
            if ignore_index is None else labels != ignore_index
        labels = labels.masked_fill(~valid, 0)
        member = (masks[:, labels] & valid).float()  # [K, M]
        index = labels[None, :, None].expand(num_experts, -1, 1)
        ce = -logp.gather(2, index).squeeze(2) * member
    elif targets.dim() == logits_dim:
        y = _to_rows(targets.to(z.device), class_dim).float()  # [M, C]
        if y.shape[1] != num_classes:
            raise ValueError(f'soft targets have {y.shape[1]} classes, the '
                             f'logits have {num_classes}')
        y = y[None] * masks[:, None, :]  # label mass inside C_i: [K, M, C]
        member = y.sum(dim=2)
        ce = -(y * logp).sum(dim=2)
    else:
        raise ValueError(
            'targets must be integer labels shaped like the logits without '
            'the class axis, or soft scores shaped like the logits; got '
            f'{tuple(targets.shape)} ({targets.dtype}) for logits of shape '
            f'{tuple(expert_logits[0].shape)}')

    size = member.sum(dim=1)
    denom = size.clamp(min=eps)
    cls = ce.sum(dim=1) / denom
    if split_specific:
        com = torch.zeros_like(cls)
    else:
        interfering = (~masks)[:, None, :].to(z.dtype)
        com_sum = ((z.pow(2) * interfering).sum(dim=2) * member).sum(dim=1)
        if complement_form == 'squared':
            com = com_sum / denom
        elif complement_form == 'norm':
            # sqrt has an infinite slope at 0: take it where the sum is > 0
            # only, so an empty sub-batch (or expert 1) gives 0 with a
            # finite (zero) gradient.
            positive = com_sum > 0
            norm = torch.where(positive, com_sum, torch.ones_like(com_sum))
            norm = torch.where(positive, norm.sqrt(), torch.zeros_like(norm))
            com = norm / (~masks).sum(dim=1).clamp(min=1).to(z.dtype)
        else:
            raise ValueError(f'unknown complement_form {complement_form!r}, '
                             f'valid values are {list(COMPLEMENT_FORMS)}')
    return dict(cls=cls, com=com, size=size.detach())
