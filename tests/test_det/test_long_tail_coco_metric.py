"""LongTailCocoMetric: rare / common / frequent AP from COCO's per-class
AP, grouped by training instance counts."""
import json
import math

import pytest
import torch

import mmace  # noqa: F401  (ops fallback before mmdet.models)
from conftest import SHARED

mmdet = pytest.importorskip('mmdet')
import mmace.det  # noqa: E402,F401  (registers the heads and the metric)
from mmengine.registry import DefaultScope  # noqa: E402
from mmdet.registry import METRICS  # noqa: E402

COCO_LT = SHARED / 'data' / 'coco-lt-mini'
needs_coco_lt = pytest.mark.skipif(
    not (COCO_LT / 'annotations' / 'instances_train.json').is_file(),
    reason=f'coco-lt-mini not found at {COCO_LT}')


@needs_coco_lt
def test_long_tail_coco_metric_groups_per_class_ap(tmp_path):
    from mmdet.datasets import CocoDataset
    classes = CocoDataset.METAINFO['classes']
    ann_file = COCO_LT / 'annotations' / 'instances_val.json'
    ann = json.loads(ann_file.read_text())
    index = {c['id']: classes.index(c['name']) for c in ann['categories']}
    # Made-up training counts: class i has i instances, so with thresholds
    # (10, 100): rare 0..10, common 11..79, no frequent class.
    counts = list(range(len(classes)))
    with DefaultScope.overwrite_default_scope('mmdet'):
        metric = METRICS.build(dict(
            type='LongTailCocoMetric', ann_file=str(ann_file),
            class_counts=counts, group_thrs=(10, 100)))
    metric.dataset_meta = dict(classes=classes)
    # Predict every non-crowd GT box exactly, except class 12's (common).
    by_img = {}
    for a in ann['annotations']:
        label = index[a['category_id']]
        if a.get('iscrowd', 0) or label == 12:
            continue
        x, y, w, h = a['bbox']
        by_img.setdefault(a['image_id'], []).append(([x, y, x + w, y + h],
                                                     label))
    samples = []
    for img in ann['images']:
        boxes = by_img.get(img['id'], [])
        samples.append(dict(
            img_id=img['id'], ori_shape=(img['height'], img['width']),
            pred_instances=dict(
                bboxes=torch.tensor([b for b, _ in boxes]).reshape(-1, 4),
                scores=torch.ones(len(boxes)),
                labels=torch.tensor([lb for _, lb in boxes],
                                    dtype=torch.long))))
    metric.process({}, samples)
    res = metric.evaluate(len(samples))
    with_gt = {index[a['category_id']] for a in ann['annotations']
               if not a.get('iscrowd', 0)}
    common = [c for c in range(11, 80) if c in with_gt]  # NaN AP skipped
    assert 12 in common
    assert res['coco/bbox_mAP_r'] == 1.0
    assert res['coco/bbox_mAP_c'] == round((len(common) - 1) / len(common),
                                           3)
    assert math.isnan(res['coco/bbox_mAP_f'])  # empty group
    assert 0 < res['coco/bbox_mAP'] < 1


def test_long_tail_coco_metric_needs_counts():
    with DefaultScope.overwrite_default_scope('mmdet'):
        metric = METRICS.build(dict(type='LongTailCocoMetric'))
    metric.dataset_meta = dict(classes=('a', 'b'))
    with pytest.raises(ValueError, match="'auto' was never filled|never "
                       'filled'):
        metric.compute_metrics([])
    metric.class_counts = [1, 2, 3]
    with pytest.raises(ValueError, match='3 classes.*has 2'):
        metric.compute_metrics([])
