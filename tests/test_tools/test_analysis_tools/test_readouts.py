"""tools/analysis_tools/readouts.py agrees with tools/test.py, read-out by
read-out, on a real (tiny) trained ACE checkpoint: the session's."""
import json

import pytest

from conftest import ACE_DIGITS, PYTHON, REPO, run_tool

SPLITS = ('top1', 'many', 'medium', 'few')


@pytest.fixture(scope='module')
def trained(trained_digits, tmp_path_factory):
    """The session's 4-epoch quick-start ACE checkpoint and its read-outs."""
    root = tmp_path_factory.mktemp('readouts')
    ckpt = trained_digits.ace.last
    out = root / 'readouts.json'
    proc = run_tool([
        PYTHON, REPO / 'tools/analysis_tools/readouts.py', ACE_DIGITS, ckpt,
        '--out', out
    ], cwd=root)
    return root, ckpt, json.loads(out.read_text()), proc.stdout


def run_test_py(root, ckpt, options=(), expert_scores=False):
    out = root / 'test.json'
    args = [PYTHON, REPO / 'tools/test.py', ACE_DIGITS, ckpt,
            '--work-dir', root / 'test', '--out', out]
    if expert_scores:
        args.append('--expert-scores')
    if options:
        args += ['--cfg-options', *options]
    run_tool(args, cwd=root)
    return json.loads(out.read_text())


def row(readouts, name_start):
    rows = [r for r in readouts['readouts'] if r['name'].startswith(
        name_start)]
    assert len(rows) == 1, [r['name'] for r in readouts['readouts']]
    return rows[0]


def assert_same(r, metrics, prefix='accuracy/'):
    for key in SPLITS:
        if r[key] is None:
            assert f'{prefix}{key}' not in metrics
        else:
            assert r[key] == pytest.approx(metrics[f'{prefix}{key}'],
                                           abs=1e-4), key


@pytest.mark.slow
def test_readouts_cover_every_variant_and_expert(trained):
    _, _, readouts, stdout = trained
    names = [r['name'] for r in readouts['readouts']]
    # 4 aggregations (avg, max, concat, gated) x 9 rescale readings (2 of
    # them the released code's inverse direction), then the 3 experts alone.
    assert len(names) == 4 * 9 + 3
    assert sum('(config)' in n for n in names) == 1
    assert row(readouts, 'avg, plain norm, sum over target rows')[
        'name'].endswith('(config)')
    assert readouts['num_samples'] == 500
    for r in readouts['readouts']:
        assert 0 <= r['top1'] <= 100
        if r['factors'] is not None:
            assert r['factors'][0] == 1.0
    # Printed as a table for people too.
    assert 'expert 3 alone' in stdout and 'medium' in stdout
    assert 'config read-out vs the best single expert' in stdout


@pytest.mark.slow
def test_default_readout_and_experts_match_test_py(trained):
    root, ckpt, readouts, _ = trained
    metrics = run_test_py(root, ckpt, expert_scores=True)
    assert_same(row(readouts, 'avg, plain norm, sum over target rows'),
                metrics)
    for i in (1, 2, 3):
        assert_same(row(readouts, f'expert {i} alone'), metrics,
                    prefix=f'accuracy/expert{i}_')


@pytest.mark.parametrize('name', [
    'avg, squared norm, sum over target rows',
    'avg, plain norm, mean over target rows, inverse, raw weights',
    'concat, no rescale',
])
@pytest.mark.slow
def test_other_readouts_match_test_py_with_their_cfg_options(trained, name):
    root, ckpt, readouts, _ = trained
    r = row(readouts, name)
    assert_same(r, run_test_py(root, ckpt, r['cfg_options']))
