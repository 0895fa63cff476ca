from typing import Dict, Optional, Sequence

import torch
import torch.nn as nn
from mmpretrain.registry import MODELS

from ..utils.ace import COMPLEMENT_FORMS, ace_losses
from ..utils.checks import check_bool, check_choice, check_number


@MODELS.register_module()
class ACELoss(nn.Module):
    """ACE's per-expert losses: Eq. 4 and Eq. 5 on each expert's sub-batch.

    The one loss of every ACE head (classification, detection and
    segmentation): for expert ``i`` the cross-entropy over its sub-batch
    (the samples, RoIs or pixels whose label is one of its target classes,
    Eq. 4) and the complement loss on its interfering classes' logits
    (Eq. 5). The math is :func:`mmace.models.utils.ace.ace_losses`.

    Args:
        loss_weight (float): Weight of the cross-entropy terms (Eq. 4).
            Defaults to 1.0.
        com_weight (float): Weight of the complement terms (Eq. 5); 0
            switches them off (Table 5, "without L_com"). Defaults to 1.0.
        complement_form (str): ``'squared'`` (Eq. 5 as printed: per sample
            the squared interfering logits summed, averaged over the
            sub-batch) or ``'norm'`` (the released code's ``ResCELoss``:
            their Frobenius norm over the whole sub-batch divided by the
            number of interfering classes; for dense heads it grows with the
            square root of the number of pixels or RoIs). Defaults to
            ``'squared'``: on CIFAR-10-LT-100 (30 epochs) ``'norm'`` lost
            0.62 and 0.83 top-1 on seeds 0 and 1 (configs/ace/README.md,
            "Paper vs released code").
        split_specific (bool): Split-specific classifiers (SSC, Table 5):
            each expert's softmax covers its target classes only and there
            is no complement term. Defaults to False.
        logit_adjust_tau (float): Not in the paper: expert 1 (all classes,
            the only expert trained on the full long-tailed data) learns
            with the logit-adjusted cross-entropy of Menon et al. (ICLR
            2021), ``z + tau * log(prior)`` inside its softmax, so its raw
            logits are balanced. Needs the training class counts (the
            classification head passes them). 0 switches it off.
            Defaults to 0.
    """

    def __init__(self,
                 loss_weight: float = 1.0,
                 com_weight: float = 1.0,
                 complement_form: str = 'squared',
                 split_specific: bool = False,
                 logit_adjust_tau: float = 0.):
        super().__init__()
        owner = type(self).__name__
        check_number(owner, 'loss_weight', loss_weight, 0)
        check_number(owner, 'com_weight', com_weight, 0)
        check_choice(owner, 'complement_form', complement_form,
                     COMPLEMENT_FORMS)
        check_bool(owner, 'split_specific', split_specific)
        check_number(owner, 'logit_adjust_tau', logit_adjust_tau, 0)
        self.loss_weight = loss_weight
        self.com_weight = com_weight
        self.complement_form = complement_form
        self.split_specific = split_specific
        self.logit_adjust_tau = logit_adjust_tau

    @property
    def uses_complement(self) -> bool:
        """Whether the Eq. 5 terms are computed (and logged)."""
        return self.com_weight > 0 and not self.split_specific

    def forward(self,
                expert_logits: Sequence[torch.Tensor],
                targets: torch.Tensor,
                masks: torch.Tensor,
                class_dim: int = 1,
                ignore_index: Optional[int] = None,
                first_expert: int = 1,
                class_counts: Optional[torch.Tensor] = None
                ) -> Dict[str, torch.Tensor]:
        """The weighted losses of each expert.

        Args:
            expert_logits (Sequence[Tensor]): The experts' logits, e.g.
                ``[N, C]`` or ``[N, C, H, W]``.
            targets (Tensor): Hard labels (the logits' shape without the
                class axis) or soft scores (the logits' shape).
            masks (Tensor): ``[K, C]`` bool target classes of these experts.
            class_dim (int): The class axis of the logits. Defaults to 1.
            ignore_index (int, optional): Hard label to ignore.
            first_expert (int): The 1-based number of the first expert
                given, for the names (a detection head passes experts
                2..K). Defaults to 1.
            class_counts (Tensor, optional): ``[C]`` training counts, for
                ``logit_adjust_tau``.

        Returns:
            dict[str, Tensor]: ``loss_cls_e{i}`` and, unless switched off,
            ``loss_com_e{i}``.
        """
        offsets = None
        if self.logit_adjust_tau > 0 and first_expert == 1:
            if class_counts is None:
                raise ValueError(
                    'ACELoss: logit_adjust_tau needs the training class '
                    'counts, which only ACEHead (classification) passes')
            counts = class_counts.float().clamp(min=1)
            offsets = masks.new_zeros(masks.shape, dtype=torch.float)
            offsets[0] = self.logit_adjust_tau * (counts / counts.sum()).log()
        terms = ace_losses(
            expert_logits,
            targets,
            masks,
            class_dim=class_dim,
            split_specific=self.split_specific,
            ignore_index=ignore_index,
            complement_form=self.complement_form,
            ce_offsets=offsets)
        losses = dict()
        for i in range(len(expert_logits)):
            e = i + first_expert
            losses[f'loss_cls_e{e}'] = self.loss_weight * terms['cls'][i]
            if self.uses_complement:
                losses[f'loss_com_e{e}'] = self.com_weight * terms['com'][i]
        return losses
