from .ace_loss import ACELoss
from .balanced_softmax_loss import BalancedSoftmaxLoss
from .complement_loss import ComplementLoss
from .ldam_loss import LDAMLoss
from .logit_adjusted_loss import LogitAdjustedLoss

__all__ = [
    'ACELoss', 'BalancedSoftmaxLoss', 'ComplementLoss', 'LDAMLoss',
    'LogitAdjustedLoss'
]
