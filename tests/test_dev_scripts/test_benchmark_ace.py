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


def test_plain_reference_calls_no_mm_code():
    """The reference's step is plain torch: no mm* name in its source."""
    import ast
    tree = ast.parse((REPO / 'mmace/testing/plain_ace.py').read_text())
    plain = {'PlainBlock', 'plain_stage', 'PlainTrunk', 'PlainBackbone',
             'PlainLWS', 'PlainHead', 'PlainACE', 'plain_optimizer',
             'plain_step'}
    found = set()
    for node in tree.body:
        if getattr(node, 'name', None) in plain:
            found.add(node.name)
            names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
            names |= {n.attr for n in ast.walk(node)
                      if isinstance(n, ast.Attribute)}
            mm = sorted(n for n in names if n.lower().startswith('mm'))
            assert not mm, (node.name, mm)
    assert found == plain
