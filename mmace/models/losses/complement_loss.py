from typing import Optional

import torch
import torch.nn as nn
from mmpretrain.registry import MODELS

from ..utils.ace import ace_losses


@MODELS.register_module()
class ComplementLoss(nn.Module):
    """Complement loss of ACE (Eq. 5) for one expert.

    The sum of the squared logits of the expert's interfering classes (those
    outside its target set), averaged over its sub-batch, i.e. the samples
    whose label is one of its target classes (soft labels count with their
    label mass inside the target set). It pushes an expert's responses on
    classes it is not trained to recognise towards 0, so that averaging the
    experts (Eq. 3) is not disturbed by them.

    Eq. 5 alone, for one expert, as a standalone loss; the ACE heads use
    :class:`ACELoss`, which computes Eq. 4 and Eq. 5 of every expert in one
    call of :func:`mmace.models.utils.ace.ace_losses`.

    Args:
        loss_weight (float): Weight of the loss. Defaults to 1.0.
    """

    def __init__(self, loss_weight: float = 1.0):
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self,
                logits: torch.Tensor,
                targets: torch.Tensor,
                target_mask: torch.Tensor,
                class_dim: int = 1,
                ignore_index: Optional[int] = None) -> torch.Tensor:
        """Compute the loss.

        Args:
            logits (Tensor): ``[N, C]`` or ``[N, C, ...]`` logits of one
                expert.
            targets (Tensor): Hard labels (logits' shape without the class
                axis) or soft scores (the logits' shape).
            target_mask (Tensor): ``[C]`` bool, the expert's target classes.
            class_dim (int): The class axis of ``logits``. Defaults to 1.
            ignore_index (int, optional): Hard label to ignore.
                Defaults to None.

        Returns:
            Tensor: The weighted scalar loss.
        """
        terms = ace_losses([logits],
                           targets,
                           target_mask[None],
                           class_dim=class_dim,
                           ignore_index=ignore_index)
        return self.loss_weight * terms['com'][0]
