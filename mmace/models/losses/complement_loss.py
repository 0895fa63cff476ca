import torch
import torch.nn as nn
from mmpretrain.registry import MODELS

from ..utils.checks import check_choice, check_number

COMPLEMENT_FORMS = ('squared', 'norm')


@MODELS.register_module()
class ComplementLoss(nn.Module):
    """Complement loss of ACE (Eq. 5), the term :class:`ACELoss` builds.

    Each expert's logits of its interfering classes (those outside its
    target set) are pushed towards 0 on its sub-batch, so that averaging
    the experts (Eq. 3) is not disturbed by them. The sub-batch is a
    per-sample weight (``membership``, from :class:`ACELoss`: 1 or 0 for a
    hard label in / not in the target set, the label mass inside it for
    Mixup scores), so every expert is computed at once and nothing is
    gathered. With :math:`S_n = \\sum_{c \\notin C_i} z_{i,nc}^2` and
    :math:`m_n` the membership:

    - ``form='squared'`` (Eq. 5 as printed): :math:`\\sum_n m_n S_n /
      \\sum_n m_n`, the sub-batch mean of the squared sums.
    - ``form='norm'`` (the released code's ``ResCELoss``):
      :math:`\\sqrt{\\sum_n m_n S_n} / |IC_i|`, the Frobenius norm of the
      interfering logits over the whole sub-batch divided by the number of
      interfering classes :math:`|IC_i| = C - |C_i|` (0 for expert 1). It
      grows with the square root of the sub-batch size (for dense heads,
      the number of pixels or RoIs) instead of being a mean, and its
      gradient does not vanish as the logits approach 0.

    An empty sub-batch gives exactly 0 (not NaN) with a zero, finite
    gradient, so DDP sees every parameter in every step.

    Args:
        form (str): ``'squared'`` or ``'norm'``, see above.
            Defaults to ``'squared'``.
        loss_weight (float): Weight of the term. Defaults to 1.0.
    """

    def __init__(self, form: str = 'squared', loss_weight: float = 1.0):
        super().__init__()
        owner = type(self).__name__
        check_choice(owner, 'form', form, COMPLEMENT_FORMS)
        check_number(owner, 'loss_weight', loss_weight, 0)
        self.form = form
        self.loss_weight = loss_weight

    def forward(self, logits: torch.Tensor, membership: torch.Tensor,
                masks: torch.Tensor) -> torch.Tensor:
        """The weighted term of each expert.

        Args:
            logits (Tensor): ``[K, M, C]`` the experts' logits, one row per
                sample (or pixel, RoI).
            membership (Tensor): ``[K, M]`` weight of each row in each
                expert's sub-batch.
            masks (Tensor): ``[K, C]`` bool target classes.

        Returns:
            Tensor: ``[K]`` weighted losses.
        """
        interfering = (~masks)[:, None, :].to(logits.dtype)
        com_sum = ((logits.pow(2) * interfering).sum(dim=2) *
                   membership).sum(dim=1)
        if self.form == 'squared':
            com = com_sum / membership.sum(dim=1).clamp(min=1e-12)
        else:
            # sqrt has an infinite slope at 0: take it where the sum is > 0
            # only, so an empty sub-batch (or expert 1) gives 0 with a
            # finite (zero) gradient.
            positive = com_sum > 0
            norm = torch.where(positive, com_sum, torch.ones_like(com_sum))
            norm = torch.where(positive, norm.sqrt(), torch.zeros_like(norm))
            com = norm / (~masks).sum(dim=1).clamp(min=1).to(logits.dtype)
        return self.loss_weight * com
