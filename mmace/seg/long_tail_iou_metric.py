"""mIoU plus mean IoU over frequency groups of training pixel share."""
import math
import os.path as osp
from collections import OrderedDict
from typing import Dict, Optional, Sequence

import numpy as np
from mmengine.logging import MMLogger, print_log
from mmseg.evaluation import IoUMetric
from mmseg.registry import METRICS
from prettytable import PrettyTable

from ..evaluation.metrics.training_counts import TrainingCountsMixin

#: Default groups: ``name -> (low, high)`` bounds on a class's share of the
#: training pixels, ``low <= share < high`` (None: unbounded).
DEFAULT_GROUPS = dict(
    frequent=(0.05, None), common=(0.01, 0.05), rare=(0.0, 0.01))


def _check_groups(groups) -> Dict[str, tuple]:
    if not isinstance(groups, dict) or not groups:
        raise TypeError('LongTailIoUMetric: groups must be a non-empty dict '
                        f'name -> (low, high), got groups={groups!r}')
    checked = OrderedDict()
    for name, bounds in groups.items():
        ok = isinstance(name, str) and isinstance(bounds, (list, tuple)) \
            and len(bounds) == 2 and all(
                b is None or (isinstance(b, (int, float))
                              and not isinstance(b, bool)) for b in bounds)
        low, high = bounds if ok else (None, None)
        low = 0.0 if low is None else float(low)
        high = math.inf if high is None else float(high)
        if not ok or low < 0 or high <= low:
            raise ValueError(
                f'LongTailIoUMetric: groups[{name!r}]={bounds!r} must be '
                '(low, high) with 0 <= low < high (fractions of the training '
                'pixels; None for an open end)')
        checked[name] = (low, high)
    return checked


def _describe(low: float, high: float) -> str:
    if high == math.inf:
        return f'>= {low * 100:g} %'
    if low == 0:
        return f'< {high * 100:g} %'
    return f'{low * 100:g}-{high * 100:g} %'


@METRICS.register_module()
class LongTailIoUMetric(TrainingCountsMixin, IoUMetric):
    """mmseg's ``IoUMetric`` plus mean IoU over frequency groups.

    The classes are grouped by their share of the **training** pixels
    (``class_counts / class_counts.sum()``; ``ignore_index`` pixels are not
    counted). A class falls in group ``name`` when ``low <= share < high``
    for ``groups[name] = (low, high)``. The defaults suit CamVid (pixel
    shares from 33 % road to 0.3 % bicyclist):

    - ``frequent``: share >= 5 % (CamVid: road, building, sky, tree, car);
    - ``common``: 1 % <= share < 5 % (pavement, signsymbol, fence, pole);
    - ``rare``: share < 1 % (pedestrian, bicyclist).

    ``mIoU_<group>`` is the mean IoU (in %) over the group's classes; as in
    ``mIoU``, a class with no pixel in the evaluated ground truth nor in the
    prediction (IoU NaN) is skipped. A group with no class (or only NaN
    IoUs) is left out of the results and the log says so. Every metric of
    ``IoUMetric`` (``aAcc``, ``mIoU``, ``mAcc``, ...) is returned unchanged,
    and a per-class table (training share, group, IoU, Acc, ...) is logged.

    Args:
        class_counts (str | Sequence[int] | ndarray | dict | Dataset):
            Training pixels per class, or a dataset (config) to count them
            from (resolved by
            :func:`mmace.datasets.class_counts.resolve_class_counts` at the
            first evaluation). ``'auto'`` is filled by
            ``runner_type='LongTailRunner'`` from
            ``train_dataloader.dataset``. Defaults to ``'auto'``.
        groups (dict, optional): ``name -> (low, high)`` pixel-share bounds
            (fractions; None for an open end), in reporting order. Defaults
            to :data:`DEFAULT_GROUPS` (``frequent``/``common``/``rare`` split
            at 5 % and 1 %).
        **kwargs: The arguments of mmseg's ``IoUMetric`` (``ignore_index``,
            ``iou_metrics``, ``nan_to_num``, ``prefix``, ...).

    Example:
        >>> metric = LongTailIoUMetric(
        ...     class_counts=[900, 70, 25, 5], prefix='camvid')
        >>> dict(metric.group_of_classes([900, 70, 25, 5]))
        {'frequent': [0, 1], 'common': [2], 'rare': [3]}
    """

    def __init__(self,
                 class_counts='auto',
                 groups: Optional[dict] = None,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.groups = _check_groups(
            DEFAULT_GROUPS if groups is None else groups)
        self.class_counts = class_counts

    def _get_counts(self, num_classes: int) -> np.ndarray:
        counts = self.training_counts(
            num_classes, "the dataset (dataset_meta['classes'])")
        if not counts.sum() > 0:
            raise ValueError('LongTailIoUMetric: class_counts must have at '
                             'least one pixel')
        return counts.astype(np.float64)

    def group_of_classes(self, counts: Sequence[float]) -> Dict[str, list]:
        """Class indices of each group for the given training counts."""
        counts = np.asarray(counts, dtype=np.float64)
        share = counts / counts.sum()
        return OrderedDict(
            (name, np.flatnonzero((share >= low) & (share < high)).tolist())
            for name, (low, high) in self.groups.items())

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """``IoUMetric``'s metrics plus ``mIoU_<group>`` for every group."""
        logger: MMLogger = MMLogger.get_current_instance()
        if self.format_only:
            logger.info(f'results are saved to {osp.dirname(self.output_dir)}')
            return OrderedDict()
        results = tuple(zip(*results))
        assert len(results) == 4
        ret_metrics = self.total_area_to_metrics(
            sum(results[0]), sum(results[1]), sum(results[2]),
            sum(results[3]), self.metrics, self.nan_to_num, self.beta)
        class_names = list(self.dataset_meta['classes'])
        counts = self._get_counts(len(class_names))
        members = self.group_of_classes(counts)

        metrics = OrderedDict()
        for key, value in ret_metrics.items():
            mean = np.round(np.nanmean(value) * 100, 2)
            metrics[key if key == 'aAcc' else 'm' + key] = float(mean)
        iou = np.asarray(ret_metrics['IoU'], dtype=np.float64) \
            if 'IoU' in ret_metrics else None
        group_col = [''] * len(class_names)
        for name, idx in members.items():
            for c in idx:
                group_col[c] = name
            if iou is None:
                continue
            values = iou[idx]
            values = values[~np.isnan(values)]
            if values.size == 0:
                print_log(
                    f'LongTailIoUMetric: group {name!r} has no class with an '
                    f'IoU ({len(idx)} classes in it); mIoU_{name} is left '
                    'out', logger)
                continue
            metrics[f'mIoU_{name}'] = float(np.round(values.mean() * 100, 2))

        share = counts / counts.sum() * 100
        table = PrettyTable()
        table.add_column('Class', class_names)
        table.add_column('train %', [f'{s:.2f}' for s in share])
        table.add_column('group', group_col)
        ret_metrics.pop('aAcc', None)
        for key, value in ret_metrics.items():
            table.add_column(key, np.round(np.asarray(value) * 100, 2))
        bounds = ', '.join(
            f'{n} {_describe(lo, hi)}' for n, (lo, hi) in self.groups.items())
        print_log(f'per class results (groups by training pixel share: '
                  f'{bounds}):', logger)
        print_log('\n' + table.get_string(), logger=logger)
        summary = ', '.join(f'{k}: {v:.2f}' for k, v in metrics.items())
        print_log(f'long-tail summary: {summary}', logger)
        return dict(metrics)
