"""Expected calibration error of LongTailAccuracy (``ece_bins``)."""
import json

import pytest
import torch
from mmengine.logging import MMLogger

from mmace.evaluation import LongTailAccuracy

# Classes 0 / 1 / 2 are many / medium / few-shot (> 100, 20-100, < 20).
COUNTS = [500, 50, 5]
# (gt, scores). 15 bins of width 1/15: .9 -> bin 13 (.867, .933],
# .7 -> bin 10 (.667, .733], .62 -> bin 9 (.6, .667], .5 -> bin 7.
SAMPLES = [
    (0, [0.90, 0.05, 0.05]),  # conf .90, right
    (0, [0.10, 0.90, 0.00]),  # conf .90, wrong
    (0, [0.30, 0.62, 0.08]),  # conf .62, wrong
    (1, [0.10, 0.70, 0.20]),  # conf .70, right
    (1, [0.50, 0.45, 0.05]),  # conf .50, wrong
    (2, [0.62, 0.00, 0.38]),  # conf .62, wrong
    (2, [0.20, 0.10, 0.70]),  # conf .70, right
]
# By hand, ECE = sum over bins of n_b / N * |acc_b - conf_b|:
#   overall: bin 13: 2 samples, acc .5, conf .9 -> 2 * .4  = .80
#            bin  9: 2 samples, acc 0, conf .62 -> 2 * .62 = 1.24
#            bin 10: 2 samples, acc 1, conf .7  -> 2 * .3  = .60
#            bin  7: 1 sample,  acc 0, conf .5  -> 1 * .5  = .50
#            (.80 + 1.24 + .60 + .50) / 7 = 3.14 / 7
#   many:   (2 * .4 + .62) / 3 = 1.42 / 3   (per-sample |conf - right|
#           would give (.1 + .9 + .62) / 3: the bins average first)
#   medium: (.3 + .5) / 2
#   few:    (.62 + .3) / 2
EXPECTED = dict(
    ece=100 * 3.14 / 7,
    ece_many=100 * 1.42 / 3,
    ece_medium=100 * 0.8 / 2,
    ece_few=100 * 0.92 / 2)


def _samples(rows=SAMPLES):
    return [
        dict(gt_label=torch.tensor([gt]), pred_score=torch.tensor(score))
        for gt, score in rows
    ]


def _evaluate(metric, samples):
    metric.process(None, samples)
    return metric.evaluate(len(samples))


def test_ece_matches_hand_computed_example():
    results = _evaluate(
        LongTailAccuracy(topk=1, class_counts=COUNTS, ece_bins=15),
        _samples())
    for key, value in EXPECTED.items():
        assert results[f'accuracy/{key}'] == pytest.approx(value, abs=1e-4)
    # Accuracy is unchanged by the option: 3 of 7 right.
    assert results['accuracy/top1'] == pytest.approx(100 * 3 / 7)


def test_ece_is_off_by_default():
    results = _evaluate(LongTailAccuracy(topk=1, class_counts=COUNTS),
                        _samples())
    assert not any('ece' in key for key in results)


def test_perfectly_calibrated_bins_give_zero():
    # Two samples at .75 confidence in one bin, one right and one wrong:
    # acc .5 != conf .75 -> .25. Two at .5, one right: acc .5 = conf .5 -> 0.
    rows = [(0, [0.75, 0.25, 0.]), (0, [0.25, 0.75, 0.]),
            (1, [0.5, 0.3, 0.2]), (1, [0.2, 0.5, 0.3])]
    results = _evaluate(
        LongTailAccuracy(topk=1, class_counts=COUNTS, ece_bins=15),
        _samples(rows))
    assert results['accuracy/ece_medium'] == pytest.approx(0.)
    assert results['accuracy/ece_many'] == pytest.approx(25.)
    assert results['accuracy/ece'] == pytest.approx(12.5)
    # No few-shot test sample: the split is omitted, not NaN.
    assert 'accuracy/ece_few' not in results


def test_bin_edges_are_upper_inclusive():
    # 2 bins: (0, .5] and (.5, 1]. A .5-confident right sample and a
    # .9-confident wrong one: |1 - .5| and |0 - .9| -> (.5 + .9) / 2.
    # Were .5 in the upper bin: |.5 - .7| = .2.
    rows = [(0, [0.5, 0.3, 0.2]), (0, [0.05, 0.9, 0.05])]
    results = _evaluate(
        LongTailAccuracy(topk=1, class_counts=COUNTS, ece_bins=2),
        _samples(rows))
    assert results['accuracy/ece'] == pytest.approx(70.)


def test_reliability_bins_in_per_class_json(tmp_path):
    prefix = tmp_path / 'pc'
    _evaluate(
        LongTailAccuracy(
            topk=1, class_counts=COUNTS, ece_bins=15,
            per_class_out=str(prefix)), _samples())
    calib = json.loads((tmp_path / 'pc.json').read_text())['calibration']
    assert calib['bins'] == 15
    overall = calib['overall']
    assert overall['ece'] == pytest.approx(EXPECTED['ece'])
    assert sum(overall['count']) == 7
    assert [i for i, n in enumerate(overall['count']) if n] == [7, 9, 10, 13]
    assert overall['confidence'][13] == pytest.approx(0.9)
    assert overall['accuracy'][13] == pytest.approx(0.5)
    assert overall['accuracy'][0] is None  # empty bin
    assert calib['few']['count'][9] == 1 and calib['few']['count'][10] == 1


def test_ece_is_logged(tmp_path):
    log_file = tmp_path / 'log.txt'
    # The newest MMLogger is the current one, which print_log writes to.
    MMLogger.get_instance('test_ece_log', log_file=str(log_file))
    _evaluate(
        LongTailAccuracy(topk=1, class_counts=COUNTS, ece_bins=15),
        _samples())
    text = log_file.read_text()
    assert 'Expected calibration error (%, 15 bins' in text
    assert f'{EXPECTED["ece"]:.2f}' in text and \
        f'{EXPECTED["ece_few"]:.2f}' in text


def test_labels_only_predictions_skip_ece():
    samples = [
        dict(gt_label=torch.tensor([gt]),
             pred_label=torch.tensor([int(torch.tensor(s).argmax())]))
        for gt, s in SAMPLES
    ]
    results = _evaluate(
        LongTailAccuracy(topk=1, class_counts=COUNTS, ece_bins=15), samples)
    assert 'accuracy/ece' not in results and 'accuracy/top1' in results


@pytest.mark.parametrize('bins,error', [(0, ValueError), (-3, ValueError),
                                        (2.5, TypeError), (True, TypeError)])
def test_invalid_bins(bins, error):
    with pytest.raises(error, match=f'LongTailAccuracy: ece_bins={bins}'):
        LongTailAccuracy(class_counts=COUNTS, ece_bins=bins)
