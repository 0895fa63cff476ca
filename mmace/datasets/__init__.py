from .cifar import CIFAR10Auto, CIFAR100Auto, CIFARFolder, detect_cifar_layout
from .class_balanced_sampler import ClassBalancedSampler
from .class_counts import (build_dataset_in_scope, count_labels,
                           get_class_counts, resolve_class_counts, shot_splits)
from .digits import LTDigits
from .list_file import LTListDataset
from .long_tail import LongTailDataset, long_tail_profile

__all__ = [
    'CIFAR10Auto', 'CIFAR100Auto', 'CIFARFolder', 'ClassBalancedSampler',
    'detect_cifar_layout',
    'build_dataset_in_scope', 'count_labels', 'get_class_counts',
    'resolve_class_counts', 'shot_splits', 'LTDigits', 'LTListDataset',
    'LongTailDataset', 'long_tail_profile'
]
