"""tools/slurm_train.sh and tools/slurm_test.sh: what they ask Slurm to run
(a stand-in ``srun`` records it)."""
import pytest

from conftest import REPO, run_tool


@pytest.mark.parametrize('script, fourth, tool', [
    ('slurm_train.sh', 'work_dirs/x', 'train.py'),
    ('slurm_test.sh', 'x.pth', 'test.py'),
])
def test_slurm_scripts_launch_one_task_per_gpu(tmp_path, script, fourth,
                                               tool):
    # A stand-in srun records what the script asks Slurm to run.
    srun = tmp_path / 'bin' / 'srun'
    srun.parent.mkdir()
    srun.write_text('#!/usr/bin/env bash\necho "$@"\n')
    srun.chmod(0o755)
    proc = run_tool([
        'bash', REPO / 'tools' / script, 'gpu', 'ace', 'configs/x.py',
        fourth, '--cfg-options', 'a=1'
    ], cwd=tmp_path, env=dict(PATH=f'{srun.parent}:/usr/bin:/bin',
                              GPUS='16'))
    args = proc.stdout.split()
    assert args[:2] == ['-p', 'gpu'] and '--ntasks=16' in args
    assert '--ntasks-per-node=8' in args and '--gres=gpu:8' in args
    assert args[args.index('-u') + 1].endswith(f'tools/{tool}')
    assert args[-3:] == ['--launcher=slurm', '--cfg-options', 'a=1']
    assert 'configs/x.py' in args
