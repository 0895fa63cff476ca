from typing import Dict, Optional, Sequence, Union

import torch
import torch.nn as nn
from mmpretrain.registry import MODELS

from ..utils.checks import check_bool, check_number
from ..utils.class_counts import log_prior


def _to_rows(x: torch.Tensor, class_dim: int) -> torch.Tensor:
    """``[..., C, ...]`` -> ``[M, C]`` (class axis last, rest flattened)."""
    return x.movedim(class_dim, -1).reshape(-1, x.size(class_dim))


@MODELS.register_module()
class ACELoss(nn.Module):
    """ACE's per-expert losses: Eq. 4 and Eq. 5 on each expert's sub-batch.

    The one loss of every ACE head (classification, detection and
    segmentation). Each sample (or pixel, RoI) ``n`` carries a label
    distribution :math:`y_n` (one-hot for hard labels; Mixup / CutMix give
    ``lam * onehot(a) + (1 - lam) * onehot(b)``). For expert ``i``:

    - membership :math:`m_n = \\sum_{c \\in C_i} y_{nc}`: 1 or 0 for a hard
      label in / not in :math:`C_i` (so the hard-label sub-batch is exactly
      :math:`\\mathcal{B}_i`), ``lam * [a in C_i] + (1 - lam) *
      [b in C_i]`` for a Mixup pair. Sub-batches are never gathered: every
      expert sees every sample, most with weight 0, so everything stays
      vectorised, static-shaped and free of host syncs.
    - Eq. 4: :math:`CE_n = -\\sum_{c \\in C_i} y_{nc} \\log
      \\sigma(z_i)_{nc}` with the softmax over the *full* logit vector (the
      label mass outside :math:`C_i` is dropped), averaged over the
      sub-batch: ``cls_i = sum_n CE_n / sum_n m_n``.
    - Eq. 5: the ``complement`` term (:class:`ComplementLoss`) on the
      expert's interfering logits, weighted by the same membership.

    Denominators are clamped: an empty sub-batch gives exactly 0 (not NaN)
    while its (zero) gradient still reaches every parameter, so DDP sees
    all of them in every step. Hard labels are gathered rather than
    expanded to one-hot rows, so dense targets (``[N, H, W]``) cost no
    ``[N, C, H, W]`` label tensor. The logits are taken in fp32 (under AMP
    the squared logits of Eq. 5 could overflow fp16).

    Args:
        loss_weight (float): Weight of the cross-entropy terms (Eq. 4).
            Defaults to 1.0.
        complement (dict | nn.Module, optional): The complement term
            (Eq. 5), a :class:`ComplementLoss` config (``form``:
            ``'squared'`` as printed or ``'norm'`` as the released code;
            ``loss_weight``); ``type`` defaults to ``'ComplementLoss'``.
            None: no complement term (Table 5, "without L_com").
            Defaults to ``dict(type='ComplementLoss')``.
        split_specific (bool): Split-specific classifiers (SSC, Table 5):
            each expert's softmax covers its target classes only (the
            interfering logits are excluded, as if those classifier rows did
            not exist). There is no complement term then: set
            ``complement=None``. Defaults to False.
        logit_adjust_tau (float): Not in the paper: expert 1 (all classes,
            the only expert trained on the full long-tailed data) learns
            with the logit-adjusted cross-entropy of Menon et al. (ICLR
            2021), ``z + tau * log(prior)`` inside its softmax (the
            complement term sees the raw logits). Needs the training class
            counts, which the head hands over (:meth:`set_class_counts`),
            and every class to have a sample. 0 switches it off.
            Defaults to 0.
    """

    def __init__(self,
                 loss_weight: float = 1.0,
                 complement: Union[dict, nn.Module, None] = dict(
                     type='ComplementLoss'),
                 split_specific: bool = False,
                 logit_adjust_tau: float = 0.):
        super().__init__()
        owner = type(self).__name__
        check_number(owner, 'loss_weight', loss_weight, 0)
        check_bool(owner, 'split_specific', split_specific)
        check_number(owner, 'logit_adjust_tau', logit_adjust_tau, 0)
        if split_specific and complement is not None:
            raise ValueError(
                f'{owner}: split_specific=True excludes the interfering '
                'logits from each softmax, so there is no complement term; '
                f'set complement=None (got complement={complement!r})')
        if isinstance(complement, dict):
            cfg = dict(complement)
            cfg.setdefault('type', 'ComplementLoss')
            # mmpretrain's registry whatever the current scope (a det or
            # seg runner sets 'mmdet' / 'mmseg').
            cfg.setdefault('_scope_', 'mmpretrain')
            complement = MODELS.build(cfg)
        elif complement is not None and not isinstance(complement, nn.Module):
            raise TypeError(f'{owner}: complement must be a ComplementLoss '
                            f'config (dict) or None, got {complement!r}')
        self.loss_weight = loss_weight
        self.complement = complement
        self.split_specific = split_specific
        self.logit_adjust_tau = logit_adjust_tau
        # tau * log(prior), set once by the head (set_class_counts).
        self.register_buffer('ce_offset', None, persistent=False)

    def set_class_counts(self, class_counts: torch.Tensor) -> None:
        """Receive the training class counts from the head (once)."""
        if self.logit_adjust_tau > 0:
            self.ce_offset = self.logit_adjust_tau * log_prior(
                type(self).__name__, class_counts, 'logit_adjust_tau')

    def terms(self,
              expert_logits: Sequence[torch.Tensor],
              targets: torch.Tensor,
              masks: torch.Tensor,
              class_dim: int = 1,
              ignore_index: Optional[int] = None,
              first_expert: int = 1) -> Dict[str, Optional[torch.Tensor]]:
        """The weighted per-expert terms as ``[K]`` tensors.

        Args:
            expert_logits (Sequence[Tensor]): The experts' logits, e.g.
                ``[N, C]`` or ``[N, C, H, W]``.
            targets (Tensor): Hard labels (the logits' shape without the
                class axis) or soft scores (the logits' shape).
            masks (Tensor): ``[K, C]`` bool target classes of these experts.
            class_dim (int): The class axis of the logits. Defaults to 1.
            ignore_index (int, optional): Hard label to ignore.
            first_expert (int): The 1-based number of the first expert
                given (a detection head passes experts 2..K): names the
                losses, and only expert 1 is logit-adjusted. Defaults to 1.

        Returns:
            dict: ``cls`` (Eq. 4), ``com`` (Eq. 5, None without a
            complement term) and ``size``, the (soft) sub-batch sizes
            :math:`\\sum_n m_n`, detached.
        """
        z = torch.stack([_to_rows(x, class_dim)
                         for x in expert_logits]).float()
        num_experts, _, num_classes = z.shape  # z: [K, M, C]
        masks = masks.to(z.device, torch.bool)
        if masks.shape != (num_experts, num_classes):
            raise ValueError(
                f'masks of shape {tuple(masks.shape)} do not match '
                f'{num_experts} experts x {num_classes} classes')
        logits_dim = expert_logits[0].dim()

        zc = z
        # Only expert 1 is logit-adjusted; a head that calls the loss for
        # experts 2..K alone leaves it to expert 1's own loss.
        if self.logit_adjust_tau > 0 and first_expert == 1:
            if self.ce_offset is None:
                raise RuntimeError(
                    'ACELoss: logit_adjust_tau needs the training class '
                    'counts, which the head hands over once it has them')
            zc = torch.cat([z[:1] + self.ce_offset.to(z.dtype), z[1:]])
        if self.split_specific:
            logp = zc.masked_fill(~masks[:, None, :], float('-inf'))
            # Interfering entries are -inf: zero them so 0 * -inf never
            # occurs.
            logp = logp.log_softmax(dim=-1).masked_fill(
                ~masks[:, None, :], 0.)
        else:
            logp = zc.log_softmax(dim=-1)

        if targets.dim() == logits_dim - 1 and \
                not targets.is_floating_point():
            # Hard labels: gather instead of a one-hot [M, C].
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
                raise ValueError(f'soft targets have {y.shape[1]} classes, '
                                 f'the logits have {num_classes}')
            y = y[None] * masks[:, None, :]  # label mass in C_i: [K, M, C]
            member = y.sum(dim=2)
            ce = -(y * logp).sum(dim=2)
        else:
            raise ValueError(
                'targets must be integer labels shaped like the logits '
                'without the class axis, or soft scores shaped like the '
                f'logits; got {tuple(targets.shape)} ({targets.dtype}) for '
                f'logits of shape {tuple(expert_logits[0].shape)}')

        size = member.sum(dim=1)
        cls = self.loss_weight * ce.sum(dim=1) / size.clamp(min=1e-12)
        com = None if self.complement is None else self.complement(
            z, member, masks)
        return dict(cls=cls, com=com, size=size.detach())

    def forward(self, expert_logits: Sequence[torch.Tensor],
                targets: torch.Tensor, masks: torch.Tensor,
                **kwargs) -> Dict[str, torch.Tensor]:
        """The weighted losses of each expert, named.

        Arguments as :meth:`terms`.

        Returns:
            dict[str, Tensor]: ``loss_cls_e{i}`` and, with a complement
            term, ``loss_com_e{i}`` (``i`` from ``first_expert``).
        """
        terms = self.terms(expert_logits, targets, masks, **kwargs)
        first_expert = kwargs.get('first_expert', 1)
        losses = dict()
        for i in range(len(expert_logits)):
            e = i + first_expert
            losses[f'loss_cls_e{e}'] = terms['cls'][i]
            if terms['com'] is not None:
                losses[f'loss_com_e{e}'] = terms['com'][i]
        return losses
