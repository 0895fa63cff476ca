"""LongTailAccuracy: top-k and many / medium / few-shot accuracy."""
import csv
import json
import math

import numpy as np
import pytest
import torch
from mmengine.evaluator import Evaluator
from mmengine.logging import MMLogger
from mmengine.registry import DefaultScope

from mmpretrain.registry import METRICS
from mmpretrain.structures import DataSample

from mmace.evaluation import LongTailAccuracy

# Training counts of the hand-made example. With many_thr=100, few_thr=20:
#   many   = {0, 1}  (500, 150 > 100)
#   medium = {2, 3}  (60, 30 in [20, 100])
#   few    = {4, 5}  (10, 5 < 20)
COUNTS = [500, 150, 60, 30, 10, 5]
NUM_CLASSES = len(COUNTS)

# (gt, 1st choice, 2nd choice) of the aggregated prediction, 12 samples.
#   class 0: 0 ok, 0 ok, 1 wrong (2nd=0)   top1 2/3 = 66.67 %  top2 3/3
#   class 1: 1 ok, 0 wrong (2nd=2)         top1 1/2 = 50 %     top2 1/2
#   class 2: 2 ok, 3 wrong (2nd=2)         top1 1/2 = 50 %     top2 2/2
#   class 3: 0 wrong (2nd=3), 1 wrong (2nd=0)  top1 0/2 = 0 %  top2 1/2
#   class 4: 4 ok, 4 ok                    top1 2/2 = 100 %    top2 2/2
#   class 5: 0 wrong (2nd=5)               top1 0/1 = 0 %      top2 1/1
SAMPLES = [
    (0, 0, 1), (0, 0, 2), (0, 1, 0),
    (1, 1, 0), (1, 0, 2),
    (2, 2, 1), (2, 3, 2),
    (3, 0, 3), (3, 1, 0),
    (4, 4, 3), (4, 4, 5),
    (5, 0, 5),
]  # yapf: disable
# top1   = 6 correct / 12             = 50 %
# top2   = 10 correct / 12            = 83.33 %
# many   = mean(66.67, 50)            = 58.33 %
# medium = mean(50, 0)                = 25 %
# few    = mean(100, 0)               = 50 %
EXPECTED = dict(
    top1=50., top2=100 * 10 / 12, many=(200 / 3 + 50) / 2, medium=25., few=50.)

# Expert 1 always predicts class 0 (head-biased): only the 3 class-0
# samples are right -> per class [100, 0, 0, 0, 0, 0]
#   top1 = 3/12 = 25 %, many = 50 %, medium = 0 %, few = 0 %
# Expert 2 predicts the gt except on class 0, where it says 5
#   -> per class [0, 100, 100, 100, 100, 100]
#   top1 = 9/12 = 75 %, many = 50 %, medium = 100 %, few = 100 %
EXPERT_EXPECTED = dict(
    expert1_top1=25.,
    expert1_many=50.,
    expert1_medium=0.,
    expert1_few=0.,
    expert2_top1=75.,
    expert2_many=50.,
    expert2_medium=100.,
    expert2_few=100.)


def _score(first, second):
    # The 4 other classes get 0.04, 0.03, 0.02, 0.01 in index order, so
    # top-5 misses the gt only if it is class 5 and neither choice: never.
    rest = [c for c in range(NUM_CLASSES) if c not in (first, second)]
    score = torch.zeros(NUM_CLASSES)
    score[rest] = torch.tensor([0.04, 0.03, 0.02, 0.01])
    score[first], score[second] = 0.6, 0.3
    return score


def _expert_scores(gt):
    expert2 = 5 if gt == 0 else gt
    return torch.eye(NUM_CLASSES)[[0, expert2]]  # (K=2, C)


def _data_samples(with_experts=False):
    samples = []
    for gt, first, second in SAMPLES:
        sample = dict(
            gt_label=torch.tensor([gt]), pred_score=_score(first, second))
        if with_experts:
            sample['expert_scores'] = _expert_scores(gt)
        samples.append(sample)
    return samples


def _evaluate(metric, data_samples):
    metric.process(None, data_samples)
    return metric.evaluate(len(data_samples))


def _assert_close(results, expected, prefix='accuracy'):
    for key, value in expected.items():
        assert results[f'{prefix}/{key}'] == pytest.approx(value, abs=1e-4), \
            key


def test_hand_made_example():
    metric = LongTailAccuracy(topk=(1, 2), class_counts=COUNTS)
    results = _evaluate(metric, _data_samples())
    assert set(results) == {f'accuracy/{k}' for k in EXPECTED}
    _assert_close(results, EXPECTED)
    assert all(isinstance(v, float) for v in results.values())


def test_default_topk_and_prefix():
    metric = METRICS.build(
        dict(type='LongTailAccuracy', class_counts=np.array(COUNTS)))
    results = _evaluate(metric, _data_samples())
    assert results['accuracy/top5'] == pytest.approx(100.)
    _assert_close(results, {k: EXPECTED[k] for k in ('top1', 'many')})

    metric = LongTailAccuracy(topk=1, class_counts=COUNTS, prefix='lt')
    results = _evaluate(metric, _data_samples())
    assert set(results) == {'lt/top1', 'lt/many', 'lt/medium', 'lt/few'}


def test_thresholds_change_splits():
    # many_thr=50: class 2 (60) becomes many-shot; few_thr=6: only class 5.
    metric = LongTailAccuracy(
        topk=1, class_counts=COUNTS, many_thr=50, few_thr=6)
    results = _evaluate(metric, _data_samples())
    _assert_close(
        results,
        dict(
            many=(200 / 3 + 50 + 50) / 3,  # classes 0, 1, 2
            medium=(0 + 100) / 2,  # classes 3, 4
            few=0.))  # class 5


def test_per_expert_keys():
    metric = LongTailAccuracy(topk=(1, 2), class_counts=COUNTS)
    results = _evaluate(metric, _data_samples(with_experts=True))
    _assert_close(results, {**EXPECTED, **EXPERT_EXPECTED})
    assert len(results) == len(EXPECTED) + len(EXPERT_EXPECTED)

    # Experts on only some samples is a model bug, not something to average.
    samples = _data_samples(with_experts=True)
    del samples[3]['expert_scores']
    with pytest.raises(ValueError, match='expert_scores'):
        _evaluate(LongTailAccuracy(class_counts=COUNTS), samples)


def test_empty_split_and_untested_class_are_skipped(tmp_path):
    # No class has fewer than 5 training samples -> the few split is empty
    # and its key is omitted; class 1 has no test sample -> skipped in many.
    counts = [500, 150, 60, 30, 10, 6]
    samples = [s for s in _data_samples() if s['gt_label'].item() != 1]
    log_file = tmp_path / 'log.txt'
    MMLogger.get_instance('test_lt_metric', log_file=str(log_file))
    metric = LongTailAccuracy(
        topk=1, class_counts=counts, many_thr=100, few_thr=5)
    results = _evaluate(metric, samples)
    assert 'accuracy/few' not in results
    _assert_close(
        results,
        dict(
            top1=100 * 5 / 10,
            many=200 / 3,  # class 0 only
            medium=(50 + 0 + 100 + 0) / 4))  # classes 2..5

    log = log_file.read_text()
    assert 'few split: 0 classes' in log and 'omitted' in log
    assert 'many split: 2 classes, 1 with evaluated samples' in log
    assert 'overall' in log and 'medium' in log


def test_logged_table_has_expert_rows(tmp_path):
    log_file = tmp_path / 'log.txt'
    MMLogger.get_instance('test_lt_metric_table', log_file=str(log_file))
    _evaluate(
        LongTailAccuracy(class_counts=COUNTS),
        _data_samples(with_experts=True))
    rows = {
        line.split('|')[0].strip(): line
        for line in log_file.read_text().splitlines() if '|' in line
    }
    assert {'overall', 'expert1', 'expert2'} <= set(rows)
    # columns: top1 top5 many medium few
    assert [c.strip() for c in rows['overall'].split('|')[1:]
            ] == ['50.00', '100.00', '58.33', '25.00', '50.00']
    assert [c.strip() for c in rows['expert2'].split('|')[1:]
            ] == ['75.00', '-', '50.00', '100.00', '100.00']


def test_per_class_out(tmp_path):
    prefix = tmp_path / 'out' / 'per_class'
    metric = LongTailAccuracy(
        topk=1, class_counts=COUNTS, per_class_out=str(prefix))
    metric.dataset_meta = dict(classes=[f'c{i}' for i in range(6)])
    _evaluate(metric, _data_samples(with_experts=True))

    dumped = json.loads((tmp_path / 'out' / 'per_class.json').read_text())
    assert dumped['many_thr'] == 100 and dumped['few_thr'] == 20
    records = dumped['classes']
    assert [r['label'] for r in records] == list(range(6))
    assert [r['name'] for r in records] == [f'c{i}' for i in range(6)]
    assert [r['count'] for r in records] == COUNTS
    assert [r['split'] for r in records
            ] == ['many', 'many', 'medium', 'medium', 'few', 'few']
    assert [r['num_test'] for r in records] == [3, 2, 2, 2, 2, 1]
    assert [r['accuracy']
            for r in records] == pytest.approx([200 / 3, 50, 50, 0, 100, 0])
    assert [r['expert1_accuracy'] for r in records] == [100, 0, 0, 0, 0, 0]
    assert [r['expert2_accuracy']
            for r in records] == [0, 100, 100, 100, 100, 100]

    with open(tmp_path / 'out' / 'per_class.csv', newline='') as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == [
        'label', 'name', 'count', 'split', 'num_test', 'accuracy',
        'expert1_accuracy', 'expert2_accuracy'
    ]
    assert rows[5]['name'] == 'c5' and rows[5]['split'] == 'few'
    assert float(rows[0]['accuracy']) == pytest.approx(200 / 3)
    assert int(rows[1]['count']) == 150


def test_per_class_out_untested_class_is_empty(tmp_path):
    prefix = tmp_path / 'pc'
    samples = [s for s in _data_samples() if s['gt_label'].item() != 5]
    _evaluate(
        LongTailAccuracy(
            topk=1, class_counts=COUNTS, per_class_out=str(prefix)), samples)
    records = json.loads((tmp_path / 'pc.json').read_text())['classes']
    assert records[5]['accuracy'] is None and records[5]['num_test'] == 0
    assert records[5]['name'] is None  # no dataset_meta
    with open(tmp_path / 'pc.csv', newline='') as f:
        rows = list(csv.DictReader(f))
    assert rows[5]['accuracy'] == '' and rows[5]['name'] == ''


def test_lazy_class_counts():
    # Built with the placeholder; the counts arrive before evaluation.
    metric = LongTailAccuracy(topk=(1, 2))
    assert metric.class_counts == 'auto'
    metric.class_counts = COUNTS
    _assert_close(_evaluate(metric, _data_samples()), EXPECTED)
    # Replacing the counts drops the resolved ones.
    metric.class_counts = [5, 5, 5, 500, 500, 500]
    results = _evaluate(metric, _data_samples())
    assert results['accuracy/many'] == pytest.approx((0 + 100 + 0) / 3)


def test_class_counts_from_dataset_config(tmp_path):
    # A dataset config is only built at evaluation time.
    ann_file = tmp_path / 'train.json'
    labels = [c for c, n in enumerate(COUNTS) for _ in range(n)]
    ann_file.write_text(
        json.dumps(
            dict(
                metainfo=dict(classes=[f'c{i}' for i in range(6)]),
                data_list=[
                    dict(img_path=f'{i}.jpg', gt_label=label)
                    for i, label in enumerate(labels)
                ])))
    cfg = dict(type='BaseDataset', ann_file=str(ann_file), data_root='')
    metric = LongTailAccuracy(topk=(1, 2), class_counts=cfg)
    _assert_close(_evaluate(metric, _data_samples()), EXPECTED)


def test_unresolved_auto_raises():
    metric = LongTailAccuracy()
    with pytest.raises(ValueError, match='auto'):
        _evaluate(metric, _data_samples())


def test_length_mismatch_raises():
    metric = LongTailAccuracy(class_counts=COUNTS[:5])
    with pytest.raises(ValueError, match=r'class_counts.*5.*6'):
        _evaluate(metric, _data_samples())


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match='few_thr=200'):
        LongTailAccuracy(many_thr=100, few_thr=200)
    with pytest.raises(ValueError, match='topk'):
        LongTailAccuracy(topk=(1, 0))
    with pytest.raises(TypeError, match='per_class_out'):
        LongTailAccuracy(per_class_out=3)
    with pytest.raises(ValueError, match='topk'):
        _evaluate(
            LongTailAccuracy(topk=(1, 7), class_counts=COUNTS),
            _data_samples())
    samples = _data_samples()
    samples[0]['gt_label'] = torch.tensor([6])
    with pytest.raises(ValueError, match='gt_label'):
        _evaluate(LongTailAccuracy(class_counts=COUNTS), samples)


def test_with_evaluator_and_data_samples():
    data_samples = []
    for gt, first, second in SAMPLES:
        sample = DataSample().set_gt_label(gt).set_pred_score(
            _score(first, second))
        sample.set_field(_expert_scores(gt), 'expert_scores')
        data_samples.append(sample)
    # As in a config with default_scope='mmpretrain'.
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        evaluator = Evaluator(
            metrics=dict(
                type='LongTailAccuracy', topk=(1, 2), class_counts=COUNTS))
    evaluator.process(data_samples)
    results = evaluator.evaluate(len(data_samples))
    _assert_close(results, {**EXPECTED, **EXPERT_EXPECTED})


def test_pred_label_only():
    samples = [
        dict(gt_label=torch.tensor([gt]), pred_label=torch.tensor([first]))
        for gt, first, _ in SAMPLES
    ]
    results = _evaluate(LongTailAccuracy(class_counts=COUNTS), samples)
    assert 'accuracy/top5' not in results
    _assert_close(results, {k: EXPECTED[k] for k in ('top1', 'many', 'few')})
    assert not math.isnan(results['accuracy/medium'])


def test_metric_thresholds_are_numbers():
    with pytest.raises(TypeError, match="LongTailAccuracy: many_thr='100'"):
        LongTailAccuracy(many_thr='100')
    with pytest.raises(ValueError, match='few_thr=-1 must be >= 0'):
        LongTailAccuracy(few_thr=-1)
