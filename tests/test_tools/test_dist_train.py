"""tools/dist_train.sh and tools/dist_test.sh: two CPU processes (gloo)."""
import json
import re

import pytest

import mmace  # noqa: F401  (checkpoints load with weights_only=True)

from conftest import ACE_DIGITS, REPO, run_tool


@pytest.mark.slow
def test_dist_train_and_test_ace_two_cpu_processes(tmp_path):
    work = tmp_path / 'work'
    proc = run_tool([
        'bash', REPO / 'tools/dist_train.sh', ACE_DIGITS, '2',
        '--work-dir', work, '--cfg-options', 'train_cfg.max_epochs=2',
        'train_cfg.val_interval=2', 'custom_hooks.0.num_last_epochs=1'
    ], cwd=tmp_path, env={'PORT': '29518'})
    log = proc.stdout + proc.stderr
    assert re.search(r'world_size:\s*2|Distributed training: True', log), \
        log[-3000:]
    assert 'Switch off batch augments' in log
    assert 'expert 3' in log  # the constructor's lr table
    assert (work / 'epoch_2.pth').is_file()

    out = tmp_path / 'metrics.json'
    run_tool([
        'bash', REPO / 'tools/dist_test.sh', ACE_DIGITS, work / 'epoch_2.pth',
        '2', '--work-dir', work, '--out', out, '--expert-scores'
    ], cwd=tmp_path, env={'PORT': '29519'})
    assert 'accuracy/expert3_few' in json.loads(out.read_text())
