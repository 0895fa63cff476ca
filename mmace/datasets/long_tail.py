import copy
import logging
import numbers
from typing import List, Optional, Union

import numpy as np
from mmengine.dataset import BaseDataset, force_full_init
from mmengine.logging import print_log

from mmpretrain.registry import DATASETS
from .class_counts import build_dataset_in_scope, count_labels


def long_tail_profile(num_classes: int,
                      max_per_class: int,
                      imb_factor: float,
                      imb_type: str = 'exp') -> np.ndarray:
    """Target number of images per class of a long-tailed subset.

    Args:
        num_classes (int): Number of classes ``C``.
        max_per_class (int): Images of the head class ``n_max``.
        imb_factor (float): Imbalance factor ``IF = n_max / n_min`` (>= 1).
        imb_type (str): ``'exp'``: ``n_i = floor(n_max * IF^(-i / (C - 1)))``
            for class index ``i`` (Cao et al., LDAM-DRW). ``'step'``: the
            first ``C // 2`` classes keep ``n_max``, the others get
            ``floor(n_max / IF)``. Defaults to 'exp'.

    Returns:
        np.ndarray: ``int64`` target counts in class-index order.
    """
    if isinstance(imb_factor, bool) or \
            not isinstance(imb_factor, numbers.Real) or \
            not imb_factor >= 1:
        raise ValueError('imb_factor must be a number >= 1 (n_max / n_min), '
                         f'got imb_factor={imb_factor!r}')
    if imb_type not in ('exp', 'step'):
        raise ValueError("imb_type must be 'exp' or 'step', got "
                         f'imb_type={imb_type!r}')
    idx = np.arange(num_classes, dtype=np.float64)
    if imb_type == 'exp':
        frac = np.power(float(imb_factor), -idx / max(num_classes - 1, 1))
    else:
        frac = np.where(idx < num_classes // 2, 1.0, 1.0 / imb_factor)
    # The 1e-9 makes mathematically exact products (e.g. 100 * 1000^(-2/3))
    # floor to the exact integer instead of one less; for CIFAR with
    # IF in {10, 20, 50, 100, 200} this equals LDAM-DRW's int(n_max * ...).
    return np.floor(max_per_class * frac + 1e-9).astype(np.int64)


def _check_options(imb_factor, imb_type, max_per_class, seed) -> None:
    """Refuse bad :class:`LongTailDataset` options, naming the option."""
    if imb_factor is not None:
        long_tail_profile(1, 1, imb_factor, imb_type)
    elif imb_type not in ('exp', 'step'):
        raise ValueError("imb_type must be 'exp' or 'step', got "
                         f'imb_type={imb_type!r}')
    for name, value, low in (('max_per_class', max_per_class, 1),
                             ('seed', seed, -np.inf)):
        if value is not None and (isinstance(value, bool)
                                  or not isinstance(value, numbers.Integral)
                                  or value < low):
            kind = 'a positive integer' if low == 1 else 'an integer'
            raise ValueError(f'{name} must be {kind} or None, got '
                             f'{name}={value!r}')


@DATASETS.register_module()
class LongTailDataset:
    """A wrapper that turns a dataset into a long-tailed subset of it.

    Suitable for the CIFAR-LT protocol (Cao et al., LDAM-DRW; used by ACE):
    class ``i`` keeps ``n_i`` images, given by :func:`long_tail_profile`.
    With ``imb_factor=None`` nothing is dropped (only ``max_per_class``
    caps classes), for lists that are long-tailed already (ImageNet-LT,
    Places-LT, iNaturalist 2018).

    Which images are kept (exactly, so subsets can be compared across
    repositories):

    1. Classes are visited in class-index order ``0..C-1``; for each class
       take the indices of its samples in source-dataset order.
    2. If ``seed`` is None, keep the first ``n_i`` of them. Otherwise one
       generator ``np.random.default_rng(seed)`` is created and, class after
       class, ``rng.permutation`` shuffles that class's indices before the
       first ``n_i`` are kept.
    3. The kept indices of all classes are sorted ascending, so the wrapper
       preserves the source order.

    If a source class has fewer images than ``n_i``, all of them are kept.
    Every class must keep at least one image.

    Examples:
        >>> from mmace.datasets import LongTailDataset
        >>> lt = LongTailDataset(
        ...     dataset=dict(type='CIFAR10Auto', data_root='data/cifar10'),
        ...     imb_factor=100)
        >>> lt.class_counts
        array([5000, 2997, 1796, 1077,  645,  387,  232,  139,   83,   50])

    Args:
        dataset (dict | BaseDataset): The source dataset or its config. It
            needs ``get_gt_labels()``.
        imb_factor (float, optional): ``n_max / n_min`` (>= 1). Defaults to
            None, which keeps every image.
        imb_type (str): ``'exp'`` or ``'step'``, see
            :func:`long_tail_profile`. Defaults to 'exp'.
        max_per_class (int, optional): ``n_max``, the head class size.
            Defaults to None, which means the largest class of the source.
        seed (int, optional): Seed of the per-class shuffle. None keeps the
            first images of each class. Defaults to 0.
        lazy_init (bool): Whether to defer selecting the subset (and loading
            the source) until first use. Defaults to False.
    """

    def __init__(self,
                 dataset: Union[BaseDataset, dict],
                 imb_factor: Optional[float] = None,
                 imb_type: str = 'exp',
                 max_per_class: Optional[int] = None,
                 seed: Optional[int] = 0,
                 lazy_init: bool = False):
        # Before building (maybe loading) the source.
        _check_options(imb_factor, imb_type, max_per_class, seed)
        self.imb_factor = imb_factor
        self.imb_type = imb_type
        self.max_per_class = max_per_class
        self.seed = seed

        if isinstance(dataset, dict):
            self.dataset = build_dataset_in_scope(dataset)
        elif hasattr(dataset, '__getitem__') and hasattr(dataset, '__len__'):
            self.dataset = dataset
        else:
            raise TypeError('LongTailDataset: `dataset` must be a dataset '
                            f'config dict or a dataset, got {type(dataset)}')
        self._metainfo = getattr(self.dataset, 'metainfo', None) or {}

        self._fully_initialized = False
        if not lazy_init:
            self.full_init()

    @property
    def metainfo(self) -> dict:
        """dict: Meta information of the source dataset, with the subset's
        ``class_counts`` (images per class) once it is selected. mmengine
        saves the training set's metainfo in every checkpoint
        (``meta['dataset_meta']``), so a checkpoint records the counts it
        was trained with."""
        meta = copy.deepcopy(self._metainfo)
        if self._fully_initialized:
            meta['class_counts'] = self._class_counts.tolist()
        return meta

    def full_init(self):
        """Initialize the source and select the long-tailed subset."""
        if self._fully_initialized:
            return
        if hasattr(self.dataset, 'full_init'):
            self.dataset.full_init()
            # Some datasets (e.g. list files) only know classes after loading.
            self._metainfo = getattr(self.dataset, 'metainfo', None) or {}
        if not hasattr(self.dataset, 'get_gt_labels'):
            raise TypeError(f'{type(self.dataset).__name__} has no '
                            '`get_gt_labels()`, which LongTailDataset needs')
        labels = np.asarray(self.dataset.get_gt_labels(), dtype=np.int64)
        classes = self._metainfo.get('classes')
        num_classes = len(classes) if classes is not None else None
        source_counts = count_labels(labels, num_classes)
        num_classes = len(source_counts)

        if self.imb_factor is None:
            targets = source_counts.copy()
            if self.max_per_class is not None:
                targets = np.minimum(targets, self.max_per_class)
        else:
            n_max = self.max_per_class or int(source_counts.max())
            targets = long_tail_profile(num_classes, n_max, self.imb_factor,
                                        self.imb_type)

        rng = None if self.seed is None else np.random.default_rng(self.seed)
        # Each class's indices in source order, from one stable sort rather
        # than a pass over all labels per class (O(N log N), not O(C * N)).
        by_class = np.split(
            np.argsort(labels, kind='stable'), np.cumsum(source_counts)[:-1])
        kept = []
        for c, idx in enumerate(by_class):
            if rng is not None:
                idx = rng.permutation(idx)
            kept.append(idx[:targets[c]])
        indices = np.sort(np.concatenate(kept)) if kept else \
            np.zeros(0, dtype=np.int64)
        self.indices = indices.astype(np.int64)
        self._gt_labels = labels[self.indices]
        self._class_counts = count_labels(self._gt_labels, num_classes)

        empty = np.flatnonzero(self._class_counts == 0)
        if len(empty):
            c = int(empty[0])
            name = classes[c] if classes is not None else str(c)
            shown = empty[:10].tolist() + (['...'] if len(empty) > 10 else [])
            where = f'{len(empty)} classes {shown}' if len(empty) > 1 \
                else 'it'
            if source_counts[c] == 0:
                raise ValueError(
                    f'LongTailDataset: class {c} ({name!r}) has no images in '
                    f'the source dataset {type(self.dataset).__name__}; '
                    f'{where} would be empty. Check the data or its labels.')
            raise ValueError(
                f'LongTailDataset: class {c} ({name!r}) is left with 0 '
                f'images (imb_factor={self.imb_factor}, imb_type='
                f"'{self.imb_type}', n_max={int(targets.max())}); "
                f'{where} would be empty. Lower imb_factor or raise '
                'max_per_class so that every class keeps at least 1 image.')
        short = np.flatnonzero(source_counts < targets)
        if len(short):
            print_log(
                f'LongTailDataset: {len(short)} classes have fewer source '
                f'images than their long-tail target (e.g. class '
                f'{short[0]}: {source_counts[short[0]]} < '
                f'{targets[short[0]]}); all their images are kept.',
                logger='current',
                # Expected when n_max is the largest class of an unbalanced
                # source; worth a warning only for a user-given n_max.
                level=logging.INFO
                if self.max_per_class is None else logging.WARNING)
        self._fully_initialized = True

    @property
    def class_counts(self) -> np.ndarray:
        """np.ndarray: ``int64`` images per class of the subset."""
        self.full_init()
        return self._class_counts.copy()

    @force_full_init
    def get_gt_labels(self) -> np.ndarray:
        """Get the labels of the kept samples.

        Returns:
            np.ndarray: Labels in the wrapper's order.
        """
        return self._gt_labels.copy()

    @force_full_init
    def _get_ori_dataset_idx(self, idx: int) -> int:
        """Map an index of the subset to an index of the source."""
        return int(self.indices[idx])

    @force_full_init
    def get_cat_ids(self, idx: int) -> List[int]:
        """Get the category ids of the ``idx``-th kept sample.

        Args:
            idx (int): Index in the subset.

        Returns:
            List[int]: Its category ids.
        """
        return [int(self._gt_labels[idx])]

    @force_full_init
    def get_data_info(self, idx: int) -> dict:
        """Get the annotation of the ``idx``-th kept sample.

        Args:
            idx (int): Index in the subset.

        Returns:
            dict: The annotation from the source dataset.
        """
        return self.dataset.get_data_info(self._get_ori_dataset_idx(idx))

    def __getitem__(self, idx: int):
        if not self._fully_initialized:
            print_log(
                'Please call `full_init` method manually to accelerate '
                'the speed.',
                logger='current',
                level=logging.WARNING)
            self.full_init()
        return self.dataset[self._get_ori_dataset_idx(idx)]

    @force_full_init
    def __len__(self) -> int:
        return len(self.indices)

    def __repr__(self) -> str:
        head = f'Dataset {self.__class__.__name__}'
        body = [
            f'imb_factor: \t{self.imb_factor}',
            f'imb_type: \t{self.imb_type}',
            f'max_per_class: \t{self.max_per_class}',
            f'seed: \t{self.seed}',
        ]
        if self._fully_initialized:
            body.append(f'Number of samples: \t{len(self)}')
            body.append(f'Class counts: \t{self._class_counts.tolist()}')
        else:
            body.append("Haven't been initialized")
        body.append(f'Source: {type(self.dataset).__name__}')
        return '\n'.join([head] + [' ' * 4 + line for line in body])
