"""ACE's read-out: logit rescaling (Eq. 2), aggregation (Eq. 3, Table 7) and
each expert's own prediction (Table 5).

Only ``torch`` is imported, so classification, detection and segmentation
heads share one implementation. Every function that takes logits accepts
the class axis anywhere (``class_dim``), e.g. ``[N, C]`` image or RoI
logits or ``[N, C, H, W]`` per-pixel logits. ``masks`` is the ``[K, C]``
bool tensor of target classes (:func:`mmace.models.ace.plan_target_masks`).
"""
from typing import Optional, Sequence, Union

import torch

NORM_OVER = ('target', 'all')
NORM_REDUCE = ('mean', 'sum')
NORM_WEIGHTS = ('scaled', 'raw')
AGGREGATIONS = ('avg', 'max', 'concat', 'gated')
#: ``rescale`` values -> the power ``p`` of the norms in Eq. 2.
RESCALE_POWERS = {'squared': 2, 'plain': 1, None: 0}


def rescale_factors(weights: Union[torch.Tensor, Sequence[torch.Tensor]],
                    masks: torch.Tensor,
                    rescale: Optional[str] = 'plain',
                    norm_over: str = 'target',
                    norm_reduce: str = 'sum',
                    rescale_inverse: bool = False) -> torch.Tensor:
    """Logit rescaling factors of Eq. 2.

    Eq. 2 scales expert ``i``'s logits by :math:`\\|w_i\\|^2 /
    \\|w_1\\|^2` "to have comparable scales". The paper leaves open which
    norm (squared or plain) and over which rows. With ``p`` the power of
    ``rescale`` (``'plain'``: 1, ``'squared'``: 2, the paper's formula):

    - ``norm_reduce='sum'``: :math:`f_i = (\\|W_i\\|_F / \\|W_1\\|_F)^p`,
      the Frobenius norm over the rows. Over the target rows it also carries
      the number of classes: an expert with a third of the classes and rows
      as strong as expert 1's gets :math:`(1/3)^{p/2}`.
    - ``norm_reduce='mean'`` (per class): :math:`m_i` is the mean of
      :math:`\\|w_{i,c}\\|^p` over the rows and :math:`f_i = m_i / m_1`,
      which compares the strength of the rows alone.

    ``rescale_inverse=True`` returns :math:`1 / f_i`. The released code
    (``valid_model`` in ``lib/core/function.py``) scales expert ``i`` by
    the mean plain row norm of expert 1 over the mean plain row norm of
    expert ``i`` over its target rows, i.e. ``rescale='plain'``,
    ``norm_reduce='mean'``, ``norm_over='target'``,
    ``rescale_inverse=True``, on the raw (not LWS-scaled) weights: the
    inverse of the printed direction.

    The parameters are the ACE heads' options of the same names, with the
    same defaults.

    Args:
        weights (Tensor | Sequence[Tensor]): ``[K, C, D...]`` effective
            classifier weights (e.g. LWS scale times weight; trailing dims of
            1x1 convs are flattened).
        masks (Tensor): ``[K, C]`` bool target masks.
        rescale (str, optional): ``'plain'`` (norm ratio), ``'squared'``
            (squared norm ratio) or None (no rescaling: all ones).
            Defaults to ``'plain'``.
        norm_over (str): ``'target'``: expert ``i``'s target rows only (its
            interfering rows are pushed towards 0 by :math:`L_{com}` and are
            never used for its outputs); ``'all'``: every row (then
            ``'mean'`` and ``'sum'`` give the same factors for
            ``'squared'`` only). Defaults to ``'target'``.
        norm_reduce (str): ``'sum'`` or ``'mean'``, see above.
            Defaults to ``'sum'``.
        rescale_inverse (bool): Return the reciprocal factors (the released
            code's direction). Defaults to False.

    Returns:
        Tensor: ``[K]`` factors, ``f_0 = 1``.
    """
    if rescale not in RESCALE_POWERS:
        raise ValueError(f'unknown rescale {rescale!r}, valid values are '
                         f'{list(RESCALE_POWERS)}')
    if norm_over not in NORM_OVER:
        raise ValueError(f'unknown norm_over {norm_over!r}, valid values are '
                         f'{list(NORM_OVER)}')
    if norm_reduce not in NORM_REDUCE:
        raise ValueError(f'unknown norm_reduce {norm_reduce!r}, valid values '
                         f'are {list(NORM_REDUCE)}')
    if not torch.is_tensor(weights):
        weights = torch.stack(list(weights))
    power = RESCALE_POWERS[rescale]
    if power == 0:
        return weights.new_ones(weights.size(0))
    row_sq = weights.flatten(2).pow(2).sum(dim=2)  # [K, C]
    rows = masks.to(row_sq.device, row_sq.dtype) if norm_over == 'target' \
        else torch.ones_like(row_sq)
    if norm_reduce == 'sum':
        strength = (row_sq * rows).sum(dim=1).pow(power / 2)
    else:
        strength = (row_sq.pow(power / 2) * rows).sum(dim=1) / rows.sum(
            dim=1).clamp(min=1)
    if rescale_inverse:
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
                     aggregation: str = 'avg',
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
      default of the segmentation head; the classification and detection
      heads default to ``'avg'``.

    A class that no expert targets gets 0 (avg, concat) or -inf (max);
    planner masks always cover every class.

    Args:
        expert_logits (Sequence[Tensor]): K logits of the same shape, e.g.
            ``[N, C]`` or ``[N, C, H, W]``.
        masks (Tensor): ``[K, C]`` bool target masks.
        factors (Tensor, optional): ``[K]`` factors. Defaults to None.
        aggregation (str): ``'avg'``, ``'max'``, ``'concat'`` or
            ``'gated'`` (the heads' option of that name). Defaults to
            ``'avg'``.
        class_dim (int): The class axis of each logit tensor. Defaults to 1.

    Returns:
        Tensor: The aggregated logits, same shape as one expert's.
    """
    if aggregation not in AGGREGATIONS:
        raise ValueError(f'unknown aggregation {aggregation!r}, valid values '
                         f'are {list(AGGREGATIONS)}')
    z, m, axis = _stack_experts(expert_logits, masks, factors, class_dim)
    if aggregation in ('avg', 'gated'):
        mf = m.to(z.dtype)
        avg = (z * mf).sum(dim=0) / mf.sum(dim=0).clamp(min=1)
        if aggregation == 'avg':
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
    if aggregation == 'max':
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
