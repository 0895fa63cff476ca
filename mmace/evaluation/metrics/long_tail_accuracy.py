import csv
import json
import logging
import math
import os.path as osp
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.logging import print_log
from mmengine.utils import mkdir_or_exist

from mmpretrain.evaluation.metrics import Accuracy
from mmpretrain.registry import METRICS
from ...datasets.class_counts import shot_splits
from ...models.utils.checks import check_int, check_number
from .training_counts import TrainingCountsMixin

SPLITS = ('many', 'medium', 'few')


@METRICS.register_module()
class LongTailAccuracy(TrainingCountsMixin, Accuracy):
    r"""Top-k accuracy plus many-/medium-/few-shot accuracy.

    The classes are split by their number of **training** samples
    (Liu et al. 2019): *many* have more than ``many_thr``, *few* fewer than
    ``few_thr``, *medium* the rest (the split itself is
    :func:`mmace.datasets.class_counts.shot_splits`). The accuracy of a split
    is the mean, over the classes of that split, of the per-class top-1
    accuracy on the evaluated data. Classes without any evaluated sample are
    skipped, and a split left with no class is omitted from the results (and
    the log says so) rather than reported as NaN.

    Overall top-k accuracy is :meth:`Accuracy.calculate` without a score
    threshold, so ``top1`` here is the plain fraction of correct samples.

    If the data samples also carry ``expert_scores`` (a ``(K, C)`` tensor of
    per-expert scores, as an ACE head predicts), the top-1 and split
    accuracies of each expert ``i`` (1-based) are reported as well:
    ``expert{i}_top1``, ``expert{i}_many``, ``expert{i}_medium`` and
    ``expert{i}_few``. Only the experts' top-1 labels are kept, so they add
    ``K`` integers per sample to the collected results.

    With ``ece_bins`` set, the expected calibration error of the aggregated
    prediction (Guo et al. 2017) is reported too: the confidence of a sample
    is its top-1 score, the samples are put in ``ece_bins`` equal-width
    confidence bins ``(b/B, (b+1)/B]`` and
    :math:`ECE = \sum_b \frac{n_b}{N} |acc_b - conf_b|`, overall
    (``ece``) and over the samples whose **ground truth** is in a split
    (``ece_many``, ``ece_medium``, ``ece_few``). It needs ``pred_score``.

    All values are percentages. After each evaluation a table of them is
    logged to the current :class:`~mmengine.logging.MMLogger`.

    Args:
        topk (int | Sequence[int]): The overall top-k accuracies to report.
            Defaults to ``(1, 5)``.
        class_counts (str | Sequence[int] | np.ndarray | dict | Dataset):
            Number of training samples of each class, or where to get them
            from: a built dataset or a dataset config. It is resolved by
            :func:`mmace.datasets.class_counts.resolve_class_counts` at the
            first evaluation, so the metric can be built before the counts
            are known. ``'auto'`` is a placeholder that
            :class:`mmace.engine.LongTailRunner` replaces with the counts of
            the training dataloader. Defaults to ``'auto'``.
        many_thr (int): Classes with more training samples are many-shot.
            Defaults to 100.
        few_thr (int): Classes with fewer training samples are few-shot.
            Defaults to 20.
        per_class_out (str, optional): Path prefix. If set, every evaluation
            (over)writes ``<per_class_out>.json`` and ``<per_class_out>.csv``
            with, for each class, its name, training count, split, number of
            evaluated samples and top-1 accuracy of the aggregated prediction
            (``accuracy``) and of each expert (``expert{i}_accuracy``).
            With ``ece_bins``, the JSON also gets a ``calibration`` entry:
            the ECE and, per bin, the sample count, mean confidence and
            accuracy, overall and per split (a reliability diagram's data).
            Defaults to None.
        ece_bins (int, optional): Number of equal-width confidence bins of
            the expected calibration error; 15 is the usual choice. None
            reports no ECE. Defaults to None.
        collect_device (str): Device name used for collecting results from
            different ranks during distributed training. Must be 'cpu' or
            'gpu'. Defaults to 'cpu'.
        prefix (str, optional): The prefix that will be added in the metric
            names to disambiguate homonymous metrics of different evaluators.
            Defaults to 'accuracy'.

    Examples:
        >>> import torch
        >>> from mmengine.evaluator import Evaluator
        >>> from mmpretrain.structures import DataSample
        >>> from mmace.evaluation import LongTailAccuracy
        >>> torch.manual_seed(0)
        >>> data_samples = [
        ...     DataSample().set_gt_label(i % 3).set_pred_score(torch.rand(3))
        ...     for i in range(300)
        ... ]
        >>> # Class 0 is many-shot, class 1 medium-shot, class 2 few-shot.
        >>> metric = LongTailAccuracy(topk=1, class_counts=[500, 50, 5])
        >>> evaluator = Evaluator(metrics=metric)
        >>> evaluator.process(data_samples)
        >>> evaluator.evaluate(300)
        Long-tail accuracy (%, classes split by training counts: many > 100, few < 20):
        many split: 1 classes, 1 with evaluated samples
        medium split: 1 classes, 1 with evaluated samples
        few split: 1 classes, 1 with evaluated samples
                |   top1 |   many | medium |    few
        overall |  34.33 |  42.00 |  30.00 |  31.00
        {'accuracy/top1': 34.333335876464844, 'accuracy/many': 42.0,
         'accuracy/medium': 30.0, 'accuracy/few': 31.0}
    """  # noqa: E501
    default_prefix: Optional[str] = 'accuracy'

    def __init__(self,
                 topk: Union[int, Sequence[int]] = (1, 5),
                 class_counts='auto',
                 many_thr: int = 100,
                 few_thr: int = 20,
                 per_class_out: Optional[str] = None,
                 ece_bins: Optional[int] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = 'accuracy') -> None:
        # No score threshold: top-1 must equal the per-class numbers below.
        super().__init__(
            topk=topk, thrs=None, collect_device=collect_device, prefix=prefix)
        if not self.topk or not all(
                isinstance(k, int) and k >= 1 for k in self.topk):
            raise ValueError(f'topk must be positive integers, got '
                             f'topk={topk!r}')
        for name, thr in (('many_thr', many_thr), ('few_thr', few_thr)):
            check_number(type(self).__name__, name, thr, 0)
        if few_thr > many_thr:
            raise ValueError(f'few_thr={few_thr!r} must not exceed '
                             f'many_thr={many_thr!r}')
        if per_class_out is not None and not isinstance(per_class_out, str):
            raise TypeError('per_class_out must be a path prefix (str) or '
                            f'None, got per_class_out={per_class_out!r}')
        self.ece_bins = check_int(
            type(self).__name__, 'ece_bins', ece_bins, low=1, allow_none=True)
        self.class_counts = class_counts
        self.many_thr = many_thr
        self.few_thr = few_thr
        self.per_class_out = per_class_out

    def process(self, data_batch, data_samples: Sequence[dict]):
        """Process one batch of data samples.

        The processed results should be stored in ``self.results``, which will
        be used to computed the metrics when all batches have been processed.

        Args:
            data_batch: A batch of data from the dataloader.
            data_samples (Sequence[dict]): A batch of outputs from the model.
        """
        for data_sample in data_samples:
            result = dict()
            if 'pred_score' in data_sample:
                result['pred_score'] = data_sample['pred_score'].cpu()
            else:
                result['pred_label'] = data_sample['pred_label'].cpu()
            result['gt_label'] = data_sample['gt_label'].cpu()
            if 'expert_scores' in data_sample:
                # (K, C) -> (K, ): only expert top-1 is reported.
                result['expert_labels'] = _top1(
                    data_sample['expert_scores'].cpu())
            self.results.append(result)

    def compute_metrics(self, results: List) -> Dict[str, float]:
        """Compute the metrics from processed results.

        Args:
            results (list): The processed results of each sample.

        Returns:
            Dict[str, float]: The computed metrics, in percent.
        """
        target = torch.cat([res['gt_label'] for res in results]).long()
        metrics = {}
        if 'pred_score' in results[0]:
            pred = torch.stack([res['pred_score'] for res in results])
            num_classes = pred.size(1)
            try:
                acc = self.calculate(pred, target, self.topk, self.thrs)
            except ValueError as e:
                raise ValueError(
                    f'{e} Please check `topk={self.topk}` of LongTailAccuracy '
                    'in the `val_evaluator` and `test_evaluator` fields of '
                    'your config file.') from e
            for i, k in enumerate(self.topk):
                metrics[f'top{k}'] = acc[i][0].item()
            pred_label = _top1(pred)
        else:
            # Labels only: top-1 is all we can tell.
            pred_label = torch.cat([res['pred_label'] for res in results])
            num_classes = None
            metrics['top1'] = self.calculate(pred_label, target).item()

        has_experts = ['expert_labels' in res for res in results]
        if any(has_experts) and not all(has_experts):
            raise ValueError(
                f'Only {sum(has_experts)} of {len(results)} data samples have '
                '`expert_scores`; either all or none of them must have it.')

        counts = self.training_counts(num_classes, 'the predictions')
        num_classes = len(counts)
        if target.numel() and (target.min() < 0
                               or target.max() >= num_classes):
            raise ValueError(
                f'gt_label must be in [0, {num_classes}) as class_counts has '
                f'{num_classes} classes, got labels in '
                f'[{target.min().item()}, {target.max().item()}]')
        splits = shot_splits(counts, self.many_thr, self.few_thr)
        class_split = np.empty(num_classes, dtype=object)
        for name in SPLITS:
            class_split[np.asarray(splits[name], dtype=np.int64)] = name

        support = torch.bincount(target, minlength=num_classes)
        per_class = {'accuracy': _per_class_acc(pred_label, target, support)}
        rows = [('overall', metrics)]
        metrics.update(self._split_means(per_class['accuracy'], splits))

        if all(has_experts):
            expert_labels = torch.stack(
                [res['expert_labels'] for res in results])
            for i in range(expert_labels.size(1)):
                name = f'expert{i + 1}'
                acc_i = _per_class_acc(expert_labels[:, i], target, support)
                per_class[f'{name}_accuracy'] = acc_i
                expert_metrics = {
                    'top1': self.calculate(expert_labels[:, i], target).item(),
                    **self._split_means(acc_i, splits)
                }
                rows.append((name, expert_metrics))
                metrics.update({
                    f'{name}_{k}': v
                    for k, v in expert_metrics.items()
                })

        calibration = None
        if self.ece_bins is not None:
            if 'pred_score' in results[0]:
                calibration = self._calibration(pred, target, splits)
                metrics.update(
                    (f'ece_{name}' if name in SPLITS else 'ece', c['ece'])
                    for name, c in calibration.items())
            else:
                print_log(
                    'ECE skipped: the predictions have no pred_score',
                    logger='current',
                    level=logging.WARNING)

        self._log_table(rows, splits, support)
        if calibration is not None:
            self._log_calibration(calibration)
        if self.per_class_out is not None:
            self._dump_per_class(counts, class_split, support, per_class,
                                 calibration)
        return metrics

    def _calibration(self, pred: torch.Tensor, target: torch.Tensor,
                     splits: dict) -> Dict[str, dict]:
        """ECE and reliability bins, overall and per non-empty split."""
        conf = pred.float().max(dim=-1).values
        # The top-1 label as `Accuracy.calculate` picks it (same ties).
        correct = (_top1(pred) == target).double()
        # (lower, upper] bins on the same float edges as Guo et al.'s code.
        edges = torch.linspace(0, 1, self.ece_bins + 1)
        bins = torch.bucketize(conf, edges[1:-1], right=False)
        groups = {'overall': torch.ones_like(target, dtype=torch.bool)}
        for name in SPLITS:
            in_split = torch.zeros(pred.size(1), dtype=torch.bool)
            in_split[torch.as_tensor(splits[name], dtype=torch.long)] = True
            groups[name] = in_split[target]
        calibration = {}
        for name, keep in groups.items():
            if not bool(keep.any()):
                continue
            b, c, ok = bins[keep], conf[keep].double(), correct[keep]
            count = torch.bincount(b, minlength=self.ece_bins).double()
            conf_mean = torch.bincount(
                b, c, minlength=self.ece_bins) / count.clamp(min=1)
            acc_mean = torch.bincount(
                b, ok, minlength=self.ece_bins) / count.clamp(min=1)
            ece = ((count / count.sum()) * (acc_mean - conf_mean).abs()).sum()
            calibration[name] = dict(
                ece=float(ece) * 100,
                count=[int(n) for n in count],
                confidence=[float(x) if n else None
                            for x, n in zip(conf_mean, count)],
                accuracy=[float(x) if n else None
                          for x, n in zip(acc_mean, count)])
        return calibration

    def _log_calibration(self, calibration: Dict[str, dict]) -> None:
        """Log one line of ECE: overall and per split."""
        names = ['overall', *SPLITS]
        cells = [
            f'{calibration[n]["ece"]:6.2f}' if n in calibration else
            f'{"-":>6}' for n in names
        ]
        print_log(
            f'Expected calibration error (%, {self.ece_bins} bins, splits '
            'by ground truth):\n' + ' | '.join(f'{n:>7}' for n in names) +
            '\n' + ' | '.join(f'{c:>7}' for c in cells),
            logger='current',
            level=logging.INFO)

    def _split_means(self, per_class_acc: np.ndarray,
                     splits: dict) -> Dict[str, float]:
        """Mean per-class accuracy of each non-empty split."""
        means = {}
        for name in SPLITS:
            accs = per_class_acc[np.asarray(splits[name], dtype=np.int64)]
            accs = accs[~np.isnan(accs)]  # classes without test samples
            if accs.size:
                means[name] = float(accs.mean())
        return means

    def _log_table(self, rows, splits, support):
        """Log one line per prediction with top-k and split accuracies."""
        columns = [f'top{k}' for k in self.topk]
        columns += [c for c in ('top1', ) if c not in columns] + list(SPLITS)
        lines = []
        for name in SPLITS:
            idx = np.asarray(splits[name], dtype=np.int64)
            tested = int((support[torch.from_numpy(idx)] > 0).sum())
            note = '' if tested else '  -> omitted, no class to average'
            lines.append(f'{name} split: {len(idx)} classes, {tested} with '
                         f'evaluated samples{note}')
        width = max(len(name) for name, _ in rows)
        lines.append(' | '.join([' ' * width] + [f'{c:>6}' for c in columns]))
        for name, values in rows:
            cells = [
                f'{values[c]:6.2f}' if c in values else f'{"-":>6}'
                for c in columns
            ]
            lines.append(' | '.join([f'{name:<{width}}'] + cells))
        print_log(
            'Long-tail accuracy (%, classes split by training counts: '
            f'many > {self.many_thr}, few < {self.few_thr}):\n' +
            '\n'.join(lines),
            logger='current',
            level=logging.INFO)

    def _dump_per_class(self,
                        counts,
                        class_split,
                        support,
                        per_class,
                        calibration=None):
        """Write ``<per_class_out>.json`` and ``<per_class_out>.csv``."""
        classes = (self.dataset_meta or {}).get('classes')
        records = []
        for c in range(len(counts)):
            record = dict(
                label=c,
                name=str(classes[c]) if classes is not None
                and len(classes) == len(counts) else None,
                count=int(counts[c]),
                split=class_split[c],
                num_test=int(support[c]))
            for key, accs in per_class.items():
                acc = float(accs[c])
                record[key] = None if math.isnan(acc) else acc
            records.append(record)

        mkdir_or_exist(osp.dirname(osp.abspath(self.per_class_out)))
        dumped = dict(
            many_thr=self.many_thr, few_thr=self.few_thr, classes=records)
        if calibration is not None:
            dumped['calibration'] = dict(
                bins=self.ece_bins, **calibration)
        with open(f'{self.per_class_out}.json', 'w') as f:
            json.dump(dumped, f, indent=2)
        with open(f'{self.per_class_out}.csv', 'w', newline='') as f:
            writer = csv.DictWriter(f, fieldnames=list(records[0]))
            writer.writeheader()
            for record in records:
                # None (no name / no test sample) -> empty cell.
                writer.writerow({
                    k: '' if v is None else v
                    for k, v in record.items()
                })
        print_log(
            f'Per-class accuracy written to {self.per_class_out}.json/.csv',
            logger='current')


def _top1(scores: torch.Tensor) -> torch.Tensor:
    """Top-1 label along the last dim, as :meth:`Accuracy.calculate` picks."""
    return scores.float().topk(1, dim=-1)[1][..., 0]


def _per_class_acc(pred_label: torch.Tensor, target: torch.Tensor,
                   support: torch.Tensor) -> np.ndarray:
    """Top-1 accuracy (%) of each class; NaN where it has no sample."""
    correct = torch.bincount(
        target[pred_label.long() == target], minlength=len(support))
    acc = correct.double() * 100 / support.clamp(min=1).double()
    acc[support == 0] = float('nan')
    return acc.numpy()
