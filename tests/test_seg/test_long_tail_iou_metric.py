"""LongTailIoUMetric: mIoU of frequent / common / rare classes, grouped by
training pixel share."""
import mmace  # noqa: F401  (installs the ops fallback before mmseg)
import numpy as np
import pytest
import torch

pytest.importorskip('mmseg')

from mmace.seg import LongTailIoUMetric  # noqa: E402


def test_long_tail_iou_metric_groups_by_training_pixel_share():
    # Shares 60 %, 30 %, 8 %, 1.5 %, 0.5 %: frequent 0-2, common 3, rare 4.
    metric = LongTailIoUMetric(class_counts=[600, 300, 80, 15, 5],
                               prefix='t')
    metric.dataset_meta = dict(classes=('a', 'b', 'c', 'd', 'e'))
    gt = torch.tensor([[0, 0, 1, 1, 2, 3, 4, 255]])
    pred = torch.tensor([[0, 1, 1, 1, 2, 0, 4, 3]])
    metric.process({}, [dict(pred_sem_seg=dict(data=pred[None]),
                             gt_sem_seg=dict(data=gt[None]))])
    res = metric.compute_metrics(metric.results)
    # IoU: a 1/3, b 2/3, c 1, d 0, e 1.
    iou = np.array([1 / 3, 2 / 3, 1, 0, 1]) * 100
    assert res['mIoU'] == pytest.approx(iou.mean(), abs=0.01)
    assert res['mIoU_frequent'] == pytest.approx(iou[:3].mean(), abs=0.01)
    assert res['mIoU_common'] == pytest.approx(0, abs=0.01)
    assert res['mIoU_rare'] == pytest.approx(100, abs=0.01)
    with pytest.raises(ValueError, match='class_counts has 2 classes'):
        LongTailIoUMetric(class_counts=[1, 2])._get_counts(5)
