"""COCO AP plus AP over rare / common / frequent classes (LVIS-style groups).

Built on mmdet's ``CocoMetric``: the per-class AP is read from the very
``COCOeval.eval['precision']`` array that ``CocoMetric.compute_metrics``
accumulates (the one its ``classwise`` table is made of), so the PyPI
``lvis`` package (broken on numpy 2) is not needed and COCO is evaluated
once.
"""
import contextlib
from typing import Dict, Tuple

import numpy as np
from mmengine.logging import MMLogger

import mmdet.evaluation.metrics.coco_metric as coco_metric_module
from mmdet.evaluation.metrics import CocoMetric
from mmdet.registry import METRICS

from ..evaluation.metrics.training_counts import TrainingCountsMixin

GROUPS = ('r', 'c', 'f')
GROUP_NAMES = dict(r='rare', c='common', f='frequent')


def frequency_groups(class_counts, thrs: Tuple[int, int] = (10, 100)
                     ) -> Dict[str, np.ndarray]:
    """Split classes by training instance count, LVIS-style.

    ``r`` (rare): ``count <= thrs[0]`` (classes with 0 training instances
    included); ``c`` (common): ``thrs[0] < count <= thrs[1]``; ``f``
    (frequent): ``count > thrs[1]``. LVIS's thresholds are (10, 100).

    Returns:
        dict: ``r``, ``c``, ``f`` arrays of class indices.
    """
    counts = np.asarray(class_counts)
    low, high = thrs
    return dict(
        r=np.flatnonzero(counts <= low),
        c=np.flatnonzero((counts > low) & (counts <= high)),
        f=np.flatnonzero(counts > high))


def per_class_ap(precision: np.ndarray) -> np.ndarray:
    """Per-class AP from ``COCOeval.eval['precision']``, as ``CocoMetric``.

    ``precision`` is ``[T iou, R recall, K classes, A areas, M maxDets]``;
    the AP of class ``k`` is the mean of ``precision[:, :, k, 0, -1]``
    (all areas, the largest maxDets) over its entries > -1, NaN when it has
    none (no ground truth of that class in the evaluated images).
    """
    prec = precision[:, :, :, 0, -1]
    valid = prec > -1
    num = valid.sum(axis=(0, 1))
    total = np.where(valid, prec, 0).sum(axis=(0, 1))
    with np.errstate(invalid='ignore', divide='ignore'):
        return np.where(num > 0, total / np.maximum(num, 1), np.nan)


@contextlib.contextmanager
def _record_cocoeval(records: list):
    """Let ``CocoMetric`` hand over each accumulated ``COCOeval``.

    ``CocoMetric.compute_metrics`` builds its ``COCOeval`` as a local; for
    the duration of the call the module's ``COCOeval`` / ``COCOevalMP`` are
    replaced by subclasses that append ``(iouType, useCats, precision)``
    after ``accumulate``, and restored afterwards.
    """
    originals = (coco_metric_module.COCOeval, coco_metric_module.COCOevalMP)

    def recording(base):

        class Recording(base):

            def accumulate(self, *args, **kwargs):
                out = super().accumulate(*args, **kwargs)
                records.append((self.params.iouType, self.params.useCats,
                                self.eval['precision'].copy()))
                return out

        Recording.__name__ = base.__name__
        return Recording

    coco_metric_module.COCOeval = recording(originals[0])
    coco_metric_module.COCOevalMP = recording(originals[1])
    try:
        yield records
    finally:
        coco_metric_module.COCOeval, coco_metric_module.COCOevalMP = \
            originals


@METRICS.register_module()
class LongTailCocoMetric(TrainingCountsMixin, CocoMetric):
    """mmdet's ``CocoMetric`` plus AP averaged over frequency groups.

    For each evaluated ``bbox`` / ``segm`` metric, next to mmdet's keys
    (``coco/bbox_mAP``, ``coco/bbox_mAP_50``, ...) it adds
    ``coco/bbox_mAP_r``, ``coco/bbox_mAP_c`` and ``coco/bbox_mAP_f``: the mean
    per-class AP (IoU 0.50:0.95, all areas, as ``classwise``) over the rare,
    common and frequent classes of the *training* set (see
    :func:`frequency_groups`; LVIS's ``<= 10``, ``11-100``, ``> 100``
    instances by default).

    - A class with no ground truth in the evaluated images has AP NaN in
      COCO; it is skipped in its group's mean (its detections still count
      as false positives for no class mean).
    - A group with no class, or none with ground truth, gets NaN (the key is
      always present, so logs and tables keep their columns).
    - Values are rounded to 3 decimals, as mmdet rounds its own.

    Args:
        class_counts (Sequence[int] | ndarray | Tensor | dict | str):
            Training instances per class, in the dataset's class order
            (``len(dataset_meta['classes'])`` entries, crowd excluded).
            ``'auto'`` is filled by ``runner_type='LongTailRunner'`` from
            ``train_dataloader.dataset``; a dataset config dict is counted by
            ``mmace.datasets.class_counts.resolve_class_counts``.
            Defaults to ``'auto'``.
        group_thrs (tuple[int, int]): ``(rare_max, common_max)``.
            Defaults to ``(10, 100)``.
        **kwargs: ``CocoMetric`` arguments (``ann_file``, ``metric``,
            ``classwise``, ...).
    """

    def __init__(self,
                 class_counts='auto',
                 group_thrs: Tuple[int, int] = (10, 100),
                 **kwargs) -> None:
        super().__init__(**kwargs)
        if (not isinstance(group_thrs, (list, tuple)) or len(group_thrs) != 2
                or not all(isinstance(t, (int, np.integer))
                           and not isinstance(t, bool) for t in group_thrs)
                or not 0 <= group_thrs[0] <= group_thrs[1]):
            raise ValueError(
                'LongTailCocoMetric: group_thrs must be two integers '
                f'0 <= rare_max <= common_max, got {group_thrs!r}')
        self.group_thrs = tuple(int(t) for t in group_thrs)
        self.class_counts = class_counts

    def compute_metrics(self, results: list) -> Dict[str, float]:
        classes = (self.dataset_meta or {}).get('classes')
        counts = self.training_counts(
            None if classes is None else len(classes),
            "the evaluated dataset (dataset_meta['classes'])")
        records = []
        with _record_cocoeval(records):
            eval_results = super().compute_metrics(results)
        if self.format_only:
            return eval_results
        groups = frequency_groups(counts, self.group_thrs)
        classes = list(self.dataset_meta['classes'])
        # COCO category order -> dataset class index, by name.
        cls_index = [
            classes.index(self._coco_api.loadCats(cat_id)[0]['name'])
            for cat_id in self.cat_ids
        ]
        logger = MMLogger.get_current_instance()
        for iou_type, use_cats, precision in records:
            if not use_cats or iou_type not in ('bbox', 'segm'):
                continue
            ap_cat = per_class_ap(precision)
            ap = np.full(len(classes), np.nan)
            ap[cls_index] = ap_cat
            lines = []
            for g in GROUPS:
                values = ap[groups[g]]
                values = values[~np.isnan(values)]
                mean = float(values.mean()) if values.size else float('nan')
                eval_results[f'{iou_type}_mAP_{g}'] = \
                    float(round(mean, 3)) if values.size else mean
                lines.append(f'{GROUP_NAMES[g]:>8s}: AP {mean:.3f} over '
                             f'{values.size} classes with GT '
                             f'({len(groups[g])} in the group)')
            low, high = self.group_thrs
            logger.info(f'{iou_type} AP by training frequency (rare <= '
                        f'{low} < common <= {high} < frequent):\n' +
                        '\n'.join(lines))
        return eval_results
