""".dev_scripts/benchmark/loop_overhead.py runs and reports (tiny sizes;
nothing about speed is asserted)."""
import json

import pytest

from conftest import ACE_DIGITS, PYTHON, REPO, run_tool

LOOP = REPO / '.dev_scripts/benchmark/loop_overhead.py'


@pytest.mark.slow
def test_loop_overhead_reports_the_ratio(tmp_path):
    out = tmp_path / 'loop.json'
    proc = run_tool([
        PYTHON, LOOP, ACE_DIGITS, '--cfg-options',
        'train_dataloader.num_workers=0', '--json', out
    ], cwd=tmp_path, timeout=600)
    assert 'runner overhead:' in proc.stdout
    res = json.loads(out.read_text())
    runner = res['runs']['default']
    # Every iteration of the epoch was logged and replayed in memory.
    assert runner['iters'] == res['plain']['steps'] > 1
    assert res['overhead'] == runner['loop_s'] / res['plain']['seconds']
