from .long_tail_runner import (LongTailRunner, fill_auto_class_counts,
                               setup_cpu_distributed)

__all__ = ['LongTailRunner', 'fill_auto_class_counts', 'setup_cpu_distributed']
