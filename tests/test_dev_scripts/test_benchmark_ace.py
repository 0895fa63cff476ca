"""Smoke test of .dev_scripts/benchmark/benchmark_ace.py (no timing checks)."""
import json

import pytest

from conftest import PYTHON, REPO, run_tool

TOOL = REPO / '.dev_scripts/benchmark/benchmark_ace.py'


@pytest.mark.slow
def test_benchmark_ace_runs_and_reports(tmp_path):
    out = tmp_path / 'bench.json'
    proc = run_tool([
        PYTHON, TOOL, '--iters', '2', '--warmup', '1', '--batch-size', '8',
        '--device', 'cpu', '--channels-last', 'both', '--profile', '5',
        '--json', out
    ], cwd=tmp_path, timeout=300)
    text = proc.stdout
    for line in ('FLOPs per batch', 'forward (mmengine', 'train fwd+bwd',
                 'train step', 'inference (tensor)', 'train step:  measured',
                 'inference:   measured', 'strict train check',
                 'forward FLOP ratio', 'mmace ACE vs plain PyTorch ACE',
                 'train (NCHW)', 'inference (channels_last)',
                 'channels_last speed-up', 'torch.profiler',
                 'aten::convolution_backward'):
        assert line in text, f'{line!r} missing from the report:\n{text}'
    assert 'PASS' in text or 'FAIL' in text

    res = json.loads(out.read_text())
    assert res['forward_flops']['ace'] > res['forward_flops']['ce'] > 0
    # Three copies of stage 3 instead of one: about 5/3 of the FLOPs.
    assert 1.5 < res['forward_flop_ratio'] < 1.8
    for phase in ('train', 'inference'):
        for model in ('ce', 'ace'):
            assert len(res['times'][phase][model]['wall']) == 2
        assert isinstance(res[phase]['pass'], bool)
    # The plain reference computes what mmace computes, from its weights.
    assert res['plain_matches']['loss'] < 1e-4
    assert res['plain_matches']['logits'] < 1e-4
    assert res['params']['plain'] == res['params']['ace']
    assert res['param_groups']['plain'] == res['param_groups']['ace'] == 4
    assert set(res['vs_plain']) == {
        f'{f}/{p}' for f in ('nchw', 'cl') for p in ('train', 'inference')}
    assert set(res['channels_last_gain']) == {
        f'{m}/{p}' for m in ('ce', 'ace', 'plain')
        for p in ('train', 'inference')}
    for name in ('ace', 'plain', 'ace_cl', 'plain_cl', 'ce_cl'):
        assert len(res['times']['train'][name]['wall']) == 2
    assert {'ace', 'plain'} <= set(res['profile'])


@pytest.mark.slow
def test_benchmark_times_the_folded_head(tmp_path):
    out = tmp_path / 'bench.json'
    proc = run_tool([
        PYTHON, REPO / '.dev_scripts/benchmark/benchmark_ace.py', '--iters',
        '2', '--warmup', '1', '--batch-size', '8', '--device', 'cpu',
        '--folded', '--json', out
    ], cwd=tmp_path, timeout=300)
    assert 'folded ACE head (--folded)' in proc.stdout
    assert 'head only (pooled features)' in proc.stdout
    res = json.loads(out.read_text())['folded']
    assert res['max_abs_diff'] <= 1e-5
    for part in ('head', 'model'):
        assert res[part]['unfolded_median'] > 0
        assert res[part]['folded_median'] > 0
