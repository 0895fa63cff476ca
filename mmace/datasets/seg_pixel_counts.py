"""Pixels per class of a segmentation dataset, counted once and cached.

Scanning every label map takes seconds on CamVid and minutes on ADE20K or
Cityscapes, and the counts are needed by every run (``class_counts='auto'``
of the ACE head and the metric). They are stored in a small JSON file keyed
by everything they depend on: the label map files (path, size, mtime), the
class names, ``reduce_zero_label``, ``label_map`` and ``ignore_index``. A
second run with the same dataset reads the file instead of the masks; any
change to those inputs gives a new key.

The cache folder is ``$MMACE_CACHE_DIR`` or ``~/.cache/mmace``; a folder
that cannot be written only costs the rescan.
"""
import hashlib
import json
import logging
import os
import os.path as osp
from typing import Optional

import numpy as np
from mmengine.logging import print_log

from ..utils.errors import BadImageError


def cache_dir() -> str:
    """The folder of mmace's small caches."""
    return os.environ.get('MMACE_CACHE_DIR') or osp.join(
        osp.expanduser('~'), '.cache', 'mmace')


def _stat(path: str):
    try:
        st = os.stat(path)
        return [st.st_size, st.st_mtime_ns]
    except OSError:
        return None  # remote backends: the path alone keys the entry


def _cache_key(dataset, paths) -> str:
    label_map = getattr(dataset, 'label_map', None) or {}
    payload = dict(
        kind='seg_pixel_counts/v1',
        dataset=type(dataset).__name__,
        classes=list(dataset.metainfo['classes']),
        reduce_zero_label=bool(dataset.reduce_zero_label),
        ignore_index=int(dataset.ignore_index),
        label_map=sorted((int(k), int(v)) for k, v in label_map.items()),
        files=[[p, _stat(p)] for p in paths])
    blob = json.dumps(payload, sort_keys=True).encode()
    return hashlib.sha1(blob).hexdigest()[:20]


def read_label_map(path: str, reduce_zero_label: bool = False,
                   label_map: Optional[dict] = None,
                   backend_args: Optional[dict] = None) -> np.ndarray:
    """Read one label map with mmseg's own ``LoadAnnotations``.

    So ``reduce_zero_label`` and ``label_map`` act exactly as in training.

    Raises:
        BadImageError: The file is missing, empty or not an image; the
            message names it.
    """
    from mmseg.datasets.transforms import LoadAnnotations
    results = dict(seg_map_path=path, reduce_zero_label=reduce_zero_label,
                   label_map=label_map, seg_fields=[])
    try:
        seg = LoadAnnotations(backend_args=backend_args)(results)[
            'gt_seg_map']
    except Exception as e:  # missing file, truncated PNG, ...
        raise BadImageError(
            f'cannot read segmentation label map {path}: '
            f'{type(e).__name__}: {e}') from None
    if seg.ndim != 2:
        raise BadImageError(
            f'segmentation label map {path} has shape {seg.shape}; a label '
            'map has one channel of class indices')
    return seg


def count_segmentation_pixels(dataset, use_cache: bool = True) -> np.ndarray:
    """Training pixels per class of a built mmseg dataset.

    Pixels equal to the dataset's ``ignore_index`` do not count. Any other
    value outside ``0..C-1`` is an error naming the file, since the loss
    would fail on it later anyway.

    Args:
        dataset: A built mmseg dataset (``BaseSegDataset``).
        use_cache (bool): Read / write the on-disk cache. Defaults to True.

    Returns:
        np.ndarray: ``int64`` pixel counts, one per class.
    """
    classes = dataset.metainfo['classes']
    num_classes = len(classes)
    paths = [dataset.get_data_info(i)['seg_map_path']
             for i in range(len(dataset))]
    key = _cache_key(dataset, paths)
    cache_file = osp.join(cache_dir(), f'seg_pixel_counts_{key}.json')
    if use_cache and osp.isfile(cache_file):
        try:
            with open(cache_file) as f:
                counts = json.load(f)['counts']
            if len(counts) == num_classes:
                return np.asarray(counts, dtype=np.int64)
        except (OSError, ValueError, KeyError):
            pass  # a damaged cache file is rebuilt below

    ignore = int(dataset.ignore_index)
    backend_args = getattr(dataset, 'backend_args', None)
    counts = np.zeros(num_classes, dtype=np.int64)
    for path in paths:
        seg = read_label_map(path, dataset.reduce_zero_label,
                             getattr(dataset, 'label_map', None),
                             backend_args)
        hist = np.bincount(seg.ravel(), minlength=256)
        hist[ignore] = 0
        bad = np.flatnonzero(hist[num_classes:])
        if bad.size:
            raise ValueError(
                f'segmentation label map {path} holds label '
                f'{int(bad[0]) + num_classes}, which is neither one of the '
                f'{num_classes} classes nor ignore_index={ignore}')
        counts += hist[:num_classes]

    if use_cache:
        try:
            os.makedirs(cache_dir(), exist_ok=True)
            tmp = f'{cache_file}.{os.getpid()}.tmp'
            with open(tmp, 'w') as f:
                json.dump(dict(dataset=type(dataset).__name__,
                               classes=list(classes),
                               num_files=len(paths),
                               counts=counts.tolist()), f)
            os.replace(tmp, cache_file)
        except OSError as e:
            print_log(f'could not cache pixel counts in {cache_file}: {e}',
                      logger='current', level=logging.WARNING)
    return counts
