from .ace_loss import ACELoss
from .complement_loss import ComplementLoss
from .long_tail_losses import (BalancedSoftmaxLoss, LDAMLoss,
                               LogitAdjustedLoss)

__all__ = [
    'ACELoss', 'BalancedSoftmaxLoss', 'ComplementLoss', 'LDAMLoss',
    'LogitAdjustedLoss'
]
