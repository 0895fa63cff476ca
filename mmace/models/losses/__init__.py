from .ace_loss import ACELoss
from .complement_loss import ComplementLoss

__all__ = ['ACELoss', 'ComplementLoss']
