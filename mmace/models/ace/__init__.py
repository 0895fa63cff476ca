"""The ACE method (Cai et al., ICCV'21) shared by the cls, det and seg heads.

- :mod:`.planner`: Eq. 1 target classes, Eq. 7 / 8 data shares and lr
  factors;
- :mod:`.readout`: Eq. 2 rescaling, Eq. 3 aggregation, per-expert
  probabilities;
- :mod:`.fold`: the read-out folded into one ``nn.Linear`` (deployment);
- :mod:`.head_mixin`: :class:`ACEHeadMixin`, the counts, masks and options
  every ACE head keeps.

The per-expert losses (Eq. 4 / Eq. 5) are ``ACELoss`` and ``ComplementLoss``
in :mod:`mmace.models.losses`.
"""
from .fold import fold_ace_head
from .head_mixin import ACEHeadMixin
from .planner import expert_shares, lr_scales, plan_target_masks
from .readout import aggregate_logits, expert_probs, rescale_factors

__all__ = [
    'ACEHeadMixin', 'aggregate_logits', 'expert_probs', 'expert_shares',
    'fold_ace_head', 'lr_scales', 'plan_target_masks', 'rescale_factors'
]
