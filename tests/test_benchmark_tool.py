"""Smoke test of tools/analysis_tools/benchmark_ace.py (no timing checks)."""
import json

from conftest import PYTHON, REPO, run_tool

TOOL = REPO / 'tools/analysis_tools/benchmark_ace.py'


def test_benchmark_ace_runs_and_reports(tmp_path):
    out = tmp_path / 'bench.json'
    proc = run_tool([
        PYTHON, TOOL, '--iters', '2', '--warmup', '1', '--batch-size', '8',
        '--device', 'cpu', '--json', out
    ], cwd=tmp_path, timeout=300)
    text = proc.stdout
    for line in ('FLOPs per batch', 'forward (mmengine', 'train fwd+bwd',
                 'train step', 'inference (tensor)', 'train step:  measured',
                 'inference:   measured', 'strict train check',
                 'forward FLOP ratio'):
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
