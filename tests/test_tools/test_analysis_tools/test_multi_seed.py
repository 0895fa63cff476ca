"""tools/analysis_tools/multi_seed.py on real tiny runs: the table, resume
and a failing seed."""
import json
import subprocess

import pytest

from conftest import ACE_DIGITS, PYTHON, REPO, run_tool

ACE = ACE_DIGITS
TOOLS = REPO / 'tools/analysis_tools'


def _table_rows(stdout):
    return [
        [c.strip() for c in line.strip().strip('|').split('|')]
        for line in stdout.splitlines() if line.startswith('| ')
    ]


@pytest.mark.slow
def test_multi_seed_table_resume_and_failure(tmp_path):
    work = tmp_path / 'ms'
    base = [PYTHON, TOOLS / 'multi_seed.py', ACE, '--work-dir', work]
    one_epoch = ['train_cfg.max_epochs=1', 'train_cfg.val_interval=1']
    # Seed 1 stops after 1 epoch: an interrupted run.
    run_tool([*base, '--seeds', '1', '--cfg-options', *one_epoch],
             cwd=tmp_path)
    (work / 'seed1' / 'multi_seed.json').unlink()
    # Seed 2 fails: its work dir points at a checkpoint that is gone.
    (work / 'seed2').mkdir()
    (work / 'seed2' / 'last_checkpoint').write_text(str(tmp_path / 'x.pth'))

    two_epochs = ['train_cfg.max_epochs=2', 'train_cfg.val_interval=1']
    cmd = [*base, '--seeds', '0', '1', '2', '--json', tmp_path / 'ms.json',
           '--cfg-options', *two_epochs]
    proc = subprocess.run(list(map(str, cmd)), cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    rows = _table_rows(proc.stdout)
    header = rows[0]
    assert header[:7] == ['seed', 'status', 'epoch', 'top1', 'many',
                          'medium', 'few']
    assert 'ece' in header and 'ece_few' in header
    by_seed = {row[0]: row for row in rows[1:]}
    assert by_seed['0'][1:3] == ['trained', '2']
    assert by_seed['1'][1:3] == ['resumed', '2']  # epoch 2 of 2
    assert by_seed['2'][1].startswith('failed (exit')
    assert '1 of 3 seeds failed: [2]' in proc.stdout

    # The summary row aggregates the two good seeds: mean and sample std.
    summary = by_seed['mean ± std (n=2)']
    runs = json.loads((tmp_path / 'ms.json').read_text())['runs']
    for col in ('top1', 'few', 'ece'):
        j = header.index(col)
        values = [r['metrics'][col] for r in runs if r.get('metrics')]
        mean = sum(values) / 2
        std = abs(values[0] - values[1]) / 2**0.5
        assert summary[j] == f'{mean:.2f} ± {std:.2f}', col
        assert [float(by_seed[s][j]) for s in '01'] == pytest.approx(
            values, abs=0.006)
    # Different seeds, different runs.
    assert runs[0]['metrics'] != runs[1]['metrics']

    # Run again: the done seeds are not retrained.
    again = subprocess.run(
        list(map(str, [*base, '--seeds', '0', '1', '--cfg-options',
                       *two_epochs])),
        cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stdout + again.stderr
    rows = {row[0]: row for row in _table_rows(again.stdout)[1:]}
    assert rows['0'][1] == rows['1'][1] == 'done earlier'
    assert rows['mean ± std (n=2)'] == summary
