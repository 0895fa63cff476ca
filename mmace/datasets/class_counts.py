"""Per-class training counts: the only place mmace counts labels.

Every consumer of class counts (``LongTailDataset``, ``LongTailRunner``,
``ACEHead``, ``LongTailAccuracy``, ``tools/analysis_tools/dataset_stats.py``)
goes through :func:`get_class_counts` / :func:`resolve_class_counts`, so the
counts a model is built with are always the counts the metric splits by.
"""
from typing import Dict, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.registry import DefaultScope

from mmpretrain.registry import DATASETS

ClassCountsSpec = Union[str, dict, Sequence[int], np.ndarray, object]


def count_labels(labels: Union[Sequence[int], np.ndarray],
                 num_classes: Optional[int] = None) -> np.ndarray:
    """Count how many times each class index occurs in ``labels``.

    Args:
        labels (Sequence[int] | np.ndarray): 1-D integer class indices.
        num_classes (int, optional): Length of the result. Defaults to None,
            which means ``max(labels) + 1``.

    Returns:
        np.ndarray: ``int64`` counts of length ``num_classes``.
    """
    labels = np.asarray(labels)
    if labels.size == 0:
        labels = labels.reshape(0).astype(np.int64)
    if labels.ndim != 1:
        raise ValueError('labels must be 1-D (one class index per sample), '
                         f'got shape {labels.shape}')
    if not np.issubdtype(labels.dtype, np.integer):
        if not np.all(np.mod(labels, 1) == 0):
            raise ValueError('labels must be integer class indices, got '
                             f'dtype {labels.dtype}')
    labels = labels.astype(np.int64)
    if labels.size and labels.min() < 0:
        raise ValueError(f'labels must be non-negative, got {labels.min()}')
    if num_classes is not None and labels.size and \
            labels.max() >= num_classes:
        raise ValueError(f'label {labels.max()} is out of range for '
                         f'{num_classes} classes')
    minlength = 0 if num_classes is None else int(num_classes)
    return np.bincount(labels, minlength=minlength).astype(np.int64)


def _as_counts(values, what: str) -> np.ndarray:
    """A count vector checked by the one rule for class counts
    (:func:`mmace.models.utils.check_class_counts`), as ``int64``: counts of
    images, instances or pixels are whole numbers."""
    from mmace.models.utils.class_counts import check_class_counts
    counts = check_class_counts(what, values).numpy()
    fractional = np.flatnonzero(np.mod(counts, 1) != 0)
    if fractional.size:
        c = int(fractional[0])
        raise ValueError(f'{what}: class_counts[{c}]={float(counts[c])!r} '
                         'must be a whole number of samples')
    return counts.astype(np.int64)


#: What a detection count counts: instances (boxes) or images per class.
DET_COUNT_UNITS = ('instance', 'image')


def _is_detection_dataset(dataset) -> bool:
    """mmdet datasets: data infos with ``instances`` of ``bbox_label``."""
    if _is_segmentation_dataset(dataset) or not hasattr(
            dataset, 'get_data_info') or not hasattr(dataset, 'get_cat_ids'):
        return False
    if len(dataset) == 0:
        return True
    return 'instances' in dataset.get_data_info(0)


def _is_segmentation_dataset(dataset) -> bool:
    """mmseg datasets: data infos with a ``seg_map_path``."""
    return hasattr(dataset, 'ignore_index') and hasattr(
        dataset, 'reduce_zero_label') and hasattr(dataset, 'get_data_info')


def count_detection_instances(dataset, unit: str = 'instance') -> np.ndarray:
    """Training instances (or images) per class of an mmdet dataset.

    Reads the same ``instances`` that mmdet's ``get_cat_ids`` reads, but
    leaves out crowd regions (``ignore_flag=1``, COCO's ``iscrowd``): they
    are never positives for a classifier.

    Args:
        dataset: A built mmdet dataset (``BaseDetDataset``).
        unit (str): ``'instance'``: boxes per class; ``'image'``: images
            that hold at least one box of the class (LVIS's frequency
            groups count images). Defaults to ``'instance'``.

    Returns:
        np.ndarray: ``int64`` counts, ``len(metainfo['classes'])`` long.
    """
    if unit not in DET_COUNT_UNITS:
        raise ValueError(f'unknown detection count unit {unit!r}, valid '
                         f'units are {list(DET_COUNT_UNITS)}')
    name = type(dataset).__name__
    num_classes = len(dataset.metainfo['classes'])
    counts = np.zeros(num_classes, dtype=np.int64)
    for idx in range(len(dataset)):
        labels = [
            inst['bbox_label']
            for inst in dataset.get_data_info(idx).get('instances', [])
            if not inst.get('ignore_flag', 0)
        ]
        if unit == 'image':
            labels = sorted(set(labels))
        for label in labels:
            if not 0 <= label < num_classes:
                raise ValueError(
                    f'{name} image {idx} has bbox_label {label}, out of '
                    f'range for its {num_classes} classes')
            counts[label] += 1
    return counts


def get_class_counts(dataset, unit: Optional[str] = None) -> np.ndarray:
    """Number of training samples of each class in a built dataset.

    - Classification: images per class. The number of classes is
      ``len(dataset.metainfo['classes'])`` when the dataset names its
      classes, otherwise ``max label + 1``.
    - Detection (mmdet datasets): non-crowd instances per class, or images
      per class with ``unit='image'``
      (:func:`count_detection_instances`).
    - Segmentation (mmseg datasets): pixels per class after
      ``reduce_zero_label`` and ``label_map``, without ``ignore_index``
      (:func:`mmace.datasets.seg_pixel_counts.count_segmentation_pixels`,
      cached on disk).

    Args:
        dataset: A built dataset. The counts it records, in its metainfo
            (``metainfo['class_counts']``: :class:`LongTailDataset`,
            :class:`LTListDataset`, a training set ``LongTailRunner``
            counted) or as a ``class_counts`` attribute, are used when it
            has them; otherwise the labels are counted as above.
        unit (str, optional): ``'instance'`` or ``'image'`` for detection
            datasets; None means ``'instance'``. Other datasets refuse it.

    Returns:
        np.ndarray: ``int64`` counts in class-index order.
    """
    classes = (getattr(dataset, 'metainfo', None) or {}).get('classes')
    num_classes = None if classes is None else len(classes)
    name = type(dataset).__name__
    is_det = _is_detection_dataset(dataset)
    if unit is not None and not is_det:
        raise ValueError(f'class count unit {unit!r} applies to detection '
                         f'datasets only, not to {name}')
    recorded = (getattr(dataset, 'metainfo', None) or {}).get('class_counts')
    if recorded is not None and unit is None:
        given, what = recorded, f"{name}.metainfo['class_counts']"
    elif hasattr(dataset, 'class_counts'):
        given, what = dataset.class_counts, f'{name}.class_counts'
    else:
        given = None
    if given is not None:
        counts = _as_counts(given, what)
        if num_classes is not None and len(counts) != num_classes:
            raise ValueError(
                f'{what} has {len(counts)} entries but its '
                f"metainfo['classes'] names {num_classes} classes")
        return counts
    if is_det:
        return count_detection_instances(dataset, unit or 'instance')
    if _is_segmentation_dataset(dataset):
        from .seg_pixel_counts import count_segmentation_pixels
        return count_segmentation_pixels(dataset)
    if hasattr(dataset, 'get_gt_labels'):
        labels = dataset.get_gt_labels()
        try:
            return count_labels(labels, num_classes)
        except ValueError as e:
            raise ValueError(f'cannot count the labels of {name}: {e}') \
                from None
    raise TypeError(
        f'{name} has no labels to count: it needs a `class_counts` attribute, '
        'a `get_gt_labels()` method (every mmpretrain classification '
        'dataset has one), mmdet instances or mmseg segmentation maps')


def build_dataset_in_scope(cfg: dict):
    """Build a dataset config with mmpretrain's registry.

    When no default scope is set (plain scripts, unit tests), ``mmpretrain``
    is used so that its transforms in ``pipeline`` resolve too.

    Args:
        cfg (dict): Dataset config with a ``type`` key.

    Returns:
        The built dataset.
    """
    if 'type' not in cfg:
        raise ValueError(f'dataset config has no `type` key: {dict(cfg)}')
    scope = None if DefaultScope.get_current_instance() else 'mmpretrain'
    with DefaultScope.overwrite_default_scope(scope):
        return DATASETS.build(cfg)


def resolve_class_counts(spec: ClassCountsSpec) -> np.ndarray:
    """Turn any accepted ``class_counts`` value into an ``int64`` array.

    Args:
        spec (list | tuple | np.ndarray | Tensor | dict | dataset): Explicit
            per-class counts, a dataset config dict (built with mmpretrain's
            ``DATASETS``) or a built dataset.

    Returns:
        np.ndarray: ``int64`` counts in class-index order.
    """
    if isinstance(spec, str):
        if spec == 'auto':
            raise ValueError(
                "class_counts='auto' was never filled in: "
                "runner_type='LongTailRunner' fills it (from "
                'train_dataloader.dataset when training, from the checkpoint '
                'when testing); outside a runner, pass the counts or a '
                'dataset config.')
        raise ValueError('class_counts must be a list of counts, a dataset '
                         f"config, a dataset or 'auto', got {spec!r}")
    if isinstance(spec, (list, tuple, np.ndarray, torch.Tensor)):
        return _as_counts(spec, 'class_counts')
    if isinstance(spec, dict):
        return get_class_counts(build_dataset_in_scope(spec))
    return get_class_counts(spec)


def shot_splits(counts: Union[Sequence[int], np.ndarray],
                many_thr: int = 100,
                few_thr: int = 20) -> Dict[str, np.ndarray]:
    """Split classes into many-, medium- and few-shot groups.

    The usual long-tail protocol (OLTR, Decoupling, ACE): many-shot classes
    have more than ``many_thr`` training images, few-shot classes fewer than
    ``few_thr``, medium-shot classes the rest (``few_thr..many_thr``
    inclusive, i.e. 20..100 by default).

    Args:
        counts (Sequence[int] | np.ndarray): Training images per class.
        many_thr (int): Many-shot threshold. Defaults to 100.
        few_thr (int): Few-shot threshold. Defaults to 20.

    Returns:
        dict: ``many``, ``medium`` and ``few`` arrays of class indices.
    """
    if few_thr > many_thr:
        raise ValueError(f'few_thr ({few_thr}) must be <= many_thr '
                         f'({many_thr})')
    counts = _as_counts(counts, 'counts')
    many = counts > many_thr
    few = counts < few_thr
    return dict(
        many=np.flatnonzero(many),
        medium=np.flatnonzero(~many & ~few),
        few=np.flatnonzero(few))
