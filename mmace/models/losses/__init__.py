from .complement_loss import ComplementLoss

__all__ = ['ComplementLoss']
