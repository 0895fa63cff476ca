"""mmace.analysis.posthoc and tools/analysis_tools/posthoc_sweep.py: tau is
chosen on the validation split, the plain classifier is the tau=0 row."""
import json

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

from conftest import PYTHON, REPO, run_tool
from mmace.analysis.posthoc import (build_linear_model, choose,
                                    collect_features, sweep, training_counts)
from mmace.analysis.readouts import build_metric

SWEEP = REPO / 'tools/analysis_tools/posthoc_sweep.py'


def test_sweep_scores_each_value_and_zero_is_the_plain_classifier(
        trained_digits):
    run = trained_digits.ce
    cfg = Config.fromfile(run.config)
    init_default_scope('mmpretrain')
    counts = training_counts(str(run.last))
    assert counts is not None and len(counts) == 10 and counts[0] > counts[-1]
    model = build_linear_model(cfg, str(run.last), counts)
    loader = Runner.build_dataloader(cfg.test_dataloader)
    feats, labels = collect_features(model, loader)
    metric = build_metric(cfg, counts)
    rows = sweep(model.head, feats, labels, 'tau_norm', [0, 1], metric)
    plain = model.head.fc(feats).argmax(1)
    assert rows[0]['top1'] == pytest.approx(
        100 * (plain == labels).float().mean().item())
    la = sweep(model.head, feats, labels, 'posthoc_tau', [0, 2], metric)
    assert la[0]['top1'] == rows[0]['top1']
    # tau = 2 moves predictions towards the tail classes.
    adjusted = (model.head.fc(feats) - 2 * torch.log(
        torch.tensor(counts, dtype=torch.float) / sum(counts))).argmax(1)
    assert la[1]['top1'] == pytest.approx(
        100 * (adjusted == labels).float().mean().item())
    # The head is left as it was built.
    assert model.head.tau_norm is None and model.head.posthoc_tau == 0.
    assert choose([dict(value=0., top1=1.), dict(value=.5, top1=3.),
                   dict(value=1., top1=3.)])['value'] == .5
    with pytest.raises(ValueError, match='unknown option'):
        sweep(model.head, feats, labels, 'bias', [0], metric)


@pytest.mark.slow
def test_tool_chooses_on_val_and_says_when_val_is_test(tmp_path,
                                                       trained_digits):
    out = tmp_path / 'sweep.json'
    proc = run_tool([PYTHON, SWEEP, trained_digits.ce.config,
                     trained_digits.ce.last, '--option', 'posthoc_tau',
                     '--values', '0', '1', '--out', out], cwd=tmp_path)
    res = json.loads(out.read_text())
    assert [r['value'] for r in res['val']] == [0.0, 1.0]
    assert res['chosen'] == max(res['val'], key=lambda r: r['top1'])['value']
    assert res['chosen_on_test'] is True
    assert 'chosen on the test split itself' in proc.stdout
