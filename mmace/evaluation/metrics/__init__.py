from .long_tail_accuracy import LongTailAccuracy
from .training_counts import TrainingCountsMixin

__all__ = ['LongTailAccuracy', 'TrainingCountsMixin']
