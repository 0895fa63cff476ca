"""Fold a trained ACE head into one ``nn.Linear`` for deployment.

At inference the ACE head is linear in its K expert features
:math:`x_1 .. x_K`: expert ``i``'s logits are
:math:`z_i = s_i \\odot (W_i x_i) + b_i` (LWS), Eq. 2 multiplies them by a
constant :math:`f_i` and Eq. 3 averages class ``c`` over the experts that
target it. So

.. math::

    o^c = \\sum_i a_{ic} f_i (w_{i,c} \\cdot x_i + b_{i,c})
        = [W'_1 \\dots W'_K]_c \\cdot [x_1; \\dots; x_K] + b'_c

with :math:`a_{ic} = [c \\in C_i] / |S^c|` (``'avg'``) or the owner indicator
(``'concat'``). One ``[C, K*D]`` matrix product on the concatenated features
replaces K classifiers, the norm computation of Eq. 2 (weights only, but
re-done at every call) and the masked average. ``'max'`` aggregation is not
linear and cannot be folded.
"""
from typing import Sequence

import torch
import torch.nn as nn

#: Aggregations that are linear in the expert logits.
FOLDABLE = ('avg', 'concat')


def aggregation_weights(masks: torch.Tensor, mode: str) -> torch.Tensor:
    """``[K, C]`` weight of expert ``i``'s logit in the merged class ``c``.

    Mirrors :func:`mmace.models.ace.aggregate_logits`: ``'avg'``
    averages over the experts targeting ``c`` (a class nobody targets gets
    0), ``'concat'`` takes the last expert targeting ``c``.

    Args:
        masks (Tensor): ``[K, C]`` bool target masks.
        mode (str): ``'avg'`` or ``'concat'``.

    Returns:
        Tensor: ``[K, C]`` float64 weights.
    """
    if mode not in FOLDABLE:
        raise ValueError(
            f"aggregation={mode!r} cannot be folded into a linear layer: "
            f"only {list(FOLDABLE)} are linear in the expert logits ('max' "
            'picks a different expert per sample)')
    m = masks.to(torch.float64)
    if mode == 'avg':
        return m / m.sum(dim=0, keepdim=True).clamp(min=1)
    later = masks.flip(0).long().cumsum(dim=0).flip(0)  # experts >= i on c
    return (masks & (later == 1)).to(torch.float64)


@torch.no_grad()
def fold_ace_head(head: nn.Module) -> nn.Linear:
    """Fold an :class:`ACEHead`'s inference path into one ``nn.Linear``.

    The returned layer maps the concatenated expert features
    ``torch.cat(feats, dim=1)`` (``[N, K * in_channels]``, expert 1 first)
    to the aggregated logits ``head(feats)``. It is a snapshot: fold again
    after the weights change.

    Args:
        head (nn.Module): A trained ACE head: it needs ``classifiers`` (K
            linear layers with ``effective_weight`` and a bias, scaled or
            not, as ``effective_bias`` when it has one), ``target_masks``,
            ``aggregation`` and ``rescale_factors()``.

    Returns:
        nn.Linear: ``in_features = K * D``, ``out_features = C``, on the
        head's device and in its weights' dtype.
    """
    if hasattr(head, '_check_counts'):
        head._check_counts()  # masks of an untrained head are all False
    masks = head.target_masks.bool()
    num_experts, num_classes = masks.shape
    classifiers: Sequence[nn.Module] = head.classifiers
    if len(classifiers) != num_experts:
        raise ValueError(f'{len(classifiers)} classifiers for '
                         f'{num_experts} target masks')
    agg = aggregation_weights(masks, head.aggregation)  # [K, C]
    factors = head.rescale_factors()
    if factors is not None:
        agg = agg * factors.to(agg)[:, None]

    ref = classifiers[0].effective_weight
    weights, bias = [], torch.zeros(
        num_classes, dtype=torch.float64, device=ref.device)
    for i, clf in enumerate(classifiers):
        a = agg[i].to(ref.device)
        weights.append(a[:, None] * clf.effective_weight.double())
        b = getattr(clf, 'effective_bias', clf.bias)
        if b is not None:
            bias += a * b.double()
    weight = torch.cat(weights, dim=1)  # [C, K*D]

    fused = nn.Linear(
        weight.size(1), num_classes, device=ref.device, dtype=ref.dtype)
    fused.weight.copy_(weight)
    fused.bias.copy_(bias)
    return fused.requires_grad_(False)
