"""Issue 9: faults and bad inputs, run through the real tools.

Divergence, mismatched and corrupt checkpoints, a run killed while saving,
resuming (bit-exact, augmentation included), CPU-only ``--amp`` and a head
whose ``num_classes`` is not the training set's. All runs are tiny
quick-start (sklearn digits) runs; work dirs live in ``tmp_path``.
"""
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch

import mmace  # noqa: F401  (checkpoints load with weights_only=True)
from mmace.utils.checkpoint_io import read_checkpoint
from mmace.utils.errors import CheckpointError

from conftest import PYTHON, REPO, run_tool

ACE = REPO / 'configs/quickstart/ace_r32_digits-lt.py'
CE = REPO / 'configs/quickstart/ce_r32_digits-lt.py'
TRAIN = REPO / 'tools/train.py'
TEST = REPO / 'tools/test.py'
# One thread: the bit-exact comparisons need the same reduction order.
ENV = {'OMP_NUM_THREADS': '1'}


def run_failing(args, cwd, timeout=600):
    """Run a tool that must fail; return its combined output."""
    proc = subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True,
        timeout=timeout, env=dict(os.environ, PYTHONUNBUFFERED='1', **ENV))
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, f'expected a failure, got:\n{out[-3000:]}'
    return out


def output(proc) -> str:
    return proc.stdout + proc.stderr


def assert_one_clear_error(out: str, kind: str) -> None:
    """The tool reported ``kind`` as one line, without a traceback."""
    assert f'{kind}: ' in out, out[-3000:]
    assert 'Traceback' not in out, out[-3000:]


def all_finite(path: Path) -> bool:
    state = read_checkpoint(str(path))['state_dict']
    return all(bool(torch.isfinite(v).all()) for v in state.values()
               if v.is_floating_point())


@pytest.fixture(scope='module')
def ace_ckpts(tmp_path_factory):
    """epoch_1.pth and epoch_2.pth of a 3-expert ACE quick-start run."""
    work = tmp_path_factory.mktemp('ace')
    run_tool([
        PYTHON, TRAIN, ACE, '--work-dir', work, '--no-validate',
        '--cfg-options', 'train_cfg.max_epochs=2',
        'default_hooks.checkpoint.interval=1'
    ], cwd=work, env=ENV)
    return work


@pytest.fixture(scope='module')
def ce_run(tmp_path_factory):
    """A CE quick-start run started with --resume in an empty work dir (and
    --amp where there is no GPU): the output and the work dir."""
    work = tmp_path_factory.mktemp('ce')
    amp = [] if torch.cuda.is_available() else ['--amp']
    proc = run_tool([
        PYTHON, TRAIN, CE, '--work-dir', work, '--resume', '--no-validate',
        *amp, '--cfg-options', 'train_cfg.max_epochs=1'
    ], cwd=work, env=ENV)
    return output(proc), work


# 1. Divergence ------------------------------------------------------------
@pytest.mark.slow
def test_divergence_stops_at_first_non_finite_loss(tmp_path):
    work = tmp_path / 'work'
    out = run_failing([
        PYTHON, TRAIN, ACE, '--work-dir', work, '--cfg-options',
        'optim_wrapper.optimizer.lr=1e6', 'train_cfg.max_epochs=2',
        'default_hooks.checkpoint.interval=1'
    ], cwd=tmp_path)
    assert_one_clear_error(out, 'NonFiniteLossError')
    msg = out[out.index('NonFiniteLossError: '):].splitlines()[0]
    assert 'at epoch 1, iter ' in msg, msg
    assert 'loss_cls_e' in msg and 'nan' in msg, msg
    assert ' lr=' in msg, msg
    assert 'default_hooks.non_finite_loss=None' in msg, msg
    # Nothing was saved: no checkpoint holds the broken weights.
    assert not list(work.glob('*.pth')), list(work.iterdir())


@pytest.mark.slow
def test_divergence_leaves_earlier_checkpoints_intact(tmp_path):
    work = tmp_path / 'work'
    # Epoch 1 trains normally (lr 0.05); from epoch 2 the lr is x1e7.
    out = run_failing([
        PYTHON, TRAIN, ACE, '--work-dir', work, '--cfg-options',
        'train_cfg.max_epochs=3', 'train_cfg.val_interval=1',
        'default_hooks.checkpoint.interval=1', 'param_scheduler.1.gamma=1e7',
        'param_scheduler.1.milestones=[1]'
    ], cwd=tmp_path)
    assert_one_clear_error(out, 'NonFiniteLossError')
    msg = out[out.index('NonFiniteLossError: '):].splitlines()[0]
    assert 'at epoch 2, iter ' in msg, msg
    assert 'epoch_1.pth' in msg and 'untouched' in msg, msg
    saved = sorted(p.name for p in work.glob('*.pth'))
    assert saved == ['best_accuracy_top1_epoch_1.pth', 'epoch_1.pth'], saved
    for name in saved:
        assert all_finite(work / name), name
    assert (work / 'last_checkpoint').read_text().endswith('epoch_1.pth')


@pytest.mark.slow
def test_non_finite_check_can_be_switched_off(tmp_path):
    work = tmp_path / 'work'
    run_tool([
        PYTHON, TRAIN, ACE, '--work-dir', work, '--no-validate',
        '--cfg-options', 'optim_wrapper.optimizer.lr=1e6',
        'train_cfg.max_epochs=1', 'default_hooks.non_finite_loss=None'
    ], cwd=tmp_path, env=ENV)
    assert not all_finite(work / 'epoch_1.pth')


# 2. Checkpoint / config mismatch -------------------------------------------
MISMATCHES = {
    # 3-expert checkpoint, 4-expert config
    'ace3-into-ace4': ('ace', ACE, [
        'model.backbone.num_experts=4', 'model.head.num_experts=4'
    ], 'backbone.experts.3.'),
    'ce-into-ace': ('ce', ACE, [], 'missing keys (backbone.experts.0.'),
    'ace-into-ce': ('ace', CE, [], 'unexpected keys (backbone.experts.0.'),
}


@pytest.mark.parametrize('case', list(MISMATCHES))
@pytest.mark.slow
def test_test_tool_refuses_checkpoint_of_another_model(case, ace_ckpts,
                                                       ce_run, tmp_path):
    source, config, options, key = MISMATCHES[case]
    ckpt = (ace_ckpts if source == 'ace' else ce_run[1]) / 'epoch_1.pth'
    out = run_failing([
        PYTHON, TEST, config, ckpt, '--work-dir', tmp_path,
        *(['--cfg-options', *options] if options else [])
    ], cwd=tmp_path)
    assert_one_clear_error(out, 'CheckpointError')
    msg = out[out.index('CheckpointError: '):].splitlines()[0]
    assert str(ckpt) in msg and str(config) in msg, msg
    assert key in msg, msg
    assert 'load_strict=False' in msg, msg
    # Failed before evaluating anything.
    assert 'accuracy/top1' not in out


@pytest.mark.slow
def test_load_strict_false_evaluates_anyway(ce_run, tmp_path):
    ckpt = ce_run[1] / 'epoch_1.pth'
    proc = run_tool([
        PYTHON, TEST, ACE, ckpt, '--work-dir', tmp_path, '--cfg-options',
        'load_strict=False'
    ], cwd=tmp_path, env=ENV)
    out = output(proc)
    assert 'does not fit the model' in out and 'accuracy/top1' in out


@pytest.mark.slow
def test_resume_refuses_checkpoint_of_another_model(ce_run, tmp_path):
    ckpt = ce_run[1] / 'epoch_1.pth'
    out = run_failing([
        PYTHON, TRAIN, ACE, '--work-dir', tmp_path, '--resume', ckpt
    ], cwd=tmp_path)
    assert_one_clear_error(out, 'CheckpointError')
    assert 'load_from=<checkpoint> without --resume' in out


@pytest.mark.slow
def test_fine_tuning_from_another_model_stays_possible(ce_run, tmp_path):
    ckpt = ce_run[1] / 'epoch_1.pth'
    proc = run_tool([
        PYTHON, TRAIN, ACE, '--work-dir', tmp_path, '--no-validate',
        '--cfg-options', f'load_from={ckpt}', 'train_cfg.max_epochs=1'
    ], cwd=tmp_path, env=ENV)
    assert 'does not fit the model' in output(proc)
    assert (tmp_path / 'epoch_1.pth').is_file()


# 4. Corrupt checkpoints ----------------------------------------------------
def _corrupt(kind: str, good: Path, path: Path) -> Path:
    data = good.read_bytes()
    path.write_bytes({
        'empty': b'',
        'truncated': data[:len(data) // 2],
        'not-a-checkpoint': b'epoch 3, loss 0.12\n',
    }[kind])
    return path


@pytest.mark.parametrize('kind', ['empty', 'truncated', 'not-a-checkpoint'])
def test_read_checkpoint_names_corrupt_file(kind, ace_ckpts, tmp_path):
    bad = _corrupt(kind, ace_ckpts / 'epoch_1.pth', tmp_path / 'bad.pth')
    with pytest.raises(CheckpointError, match='not a readable checkpoint') \
            as info:
        read_checkpoint(str(bad))
    assert str(bad) in str(info.value)


@pytest.mark.slow
def test_test_tool_names_corrupt_checkpoint(ace_ckpts, tmp_path):
    bad = _corrupt('truncated', ace_ckpts / 'epoch_1.pth',
                   tmp_path / 'epoch_1.pth')
    out = run_failing([PYTHON, TEST, ACE, bad, '--work-dir', tmp_path],
                      cwd=tmp_path)
    assert_one_clear_error(out, 'CheckpointError')
    assert f"'{bad}' is not a readable checkpoint" in out
    assert 'PytorchStreamReader' in out  # the cause, in one line


@pytest.mark.slow
def test_auto_resume_falls_back_to_newest_readable(ace_ckpts, tmp_path):
    work = tmp_path / 'work'
    work.mkdir()
    (work / 'epoch_1.pth').write_bytes(
        (ace_ckpts / 'epoch_1.pth').read_bytes())
    _corrupt('truncated', ace_ckpts / 'epoch_2.pth', work / 'epoch_2.pth')
    (work / 'last_checkpoint').write_text(str(work / 'epoch_2.pth'))
    proc = run_tool([
        PYTHON, TRAIN, ACE, '--work-dir', work, '--resume', '--no-validate',
        '--cfg-options', 'train_cfg.max_epochs=2',
        'default_hooks.checkpoint.interval=1'
    ], cwd=tmp_path, env=ENV)
    out = output(proc)
    assert f"--resume: skipped '{work / 'epoch_2.pth'}', which is not a " \
        'readable checkpoint' in out, out[-3000:]
    assert 'newest readable checkpoint' in out
    assert 'resumed epoch: 1' in out
    assert all_finite(work / 'epoch_2.pth')  # rewritten, readable


@pytest.mark.slow
def test_auto_resume_with_only_corrupt_checkpoints_fails(ace_ckpts,
                                                         tmp_path):
    work = tmp_path / 'work'
    work.mkdir()
    _corrupt('empty', ace_ckpts / 'epoch_1.pth', work / 'epoch_1.pth')
    out = run_failing([PYTHON, TRAIN, ACE, '--work-dir', work, '--resume'],
                      cwd=tmp_path)
    assert_one_clear_error(out, 'CheckpointError')
    assert 'none of the 1 checkpoints' in out and 'epoch_1.pth' in out


# 5. Crash-safe saving ------------------------------------------------------
SLOW_SAVE = '''
import runpy, sys, time
from mmengine.fileio.backends.local_backend import LocalBackend

put = LocalBackend.put
marker, sys.argv = sys.argv[1], sys.argv[2:]


def slow_put(self, obj, filepath):
    # The second checkpoint is written half, then the process "hangs".
    if 'epoch_2' not in str(filepath):
        return put(self, obj, filepath)
    with open(filepath, 'wb') as f:
        f.write(obj[:len(obj) // 2])
        f.flush()
        open(marker, 'w').close()
        time.sleep(600)
        f.write(obj[len(obj) // 2:])


LocalBackend.put = slow_put
runpy.run_path(sys.argv[0], run_name='__main__')
'''


@pytest.mark.slow
def test_kill_while_saving_leaves_no_half_written_checkpoint(tmp_path):
    work = tmp_path / 'work'
    marker = tmp_path / 'saving'
    script = tmp_path / 'slow_save.py'
    script.write_text(SLOW_SAVE)
    train = [
        str(TRAIN), str(ACE), '--work-dir', str(work), '--no-validate',
        '--cfg-options', 'train_cfg.max_epochs=2',
        'default_hooks.checkpoint.interval=1'
    ]
    proc = subprocess.Popen([PYTHON, str(script), str(marker), *train],
                            cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL,
                            env=dict(os.environ, **ENV))
    try:
        deadline = time.time() + 900
        while not marker.exists() and proc.poll() is None and \
                time.time() < deadline:
            time.sleep(0.05)
        assert marker.exists(), 'the run never reached the second save'
    finally:
        proc.kill()  # SIGKILL: no cleanup of any kind
        proc.wait()

    names = sorted(p.name for p in work.glob('*.pth'))
    assert names == ['epoch_1.pth'], names
    for name in names:
        read_checkpoint(str(work / name))  # every checkpoint is readable
    # Auto-resume recovers from the last complete checkpoint.
    proc = run_tool([PYTHON, *train, '--resume'], cwd=tmp_path, env=ENV)
    assert 'resumed epoch: 1' in output(proc)
    assert all_finite(work / 'epoch_2.pth')


# 8. --resume with nothing to resume ----------------------------------------
def test_resume_in_empty_work_dir_says_so(ce_run):
    out, work = ce_run
    assert 'no checkpoint found in work_dir' in out
    assert 'training starts from scratch' in out
    assert 'latest checkpoint None' not in out
    assert (work / 'epoch_1.pth').is_file()


# 10. Resume reproduces the run, augmentation included; SIGINT kept ---------
@pytest.mark.slow
def test_sigint_then_resume_with_augmentation_is_bit_identical(tmp_path):
    # RandomCrop (numpy), Mixup (numpy + torch) in epochs 1-3, validation
    # (which draws from torch's generator) after every epoch.
    train = [
        PYTHON, TRAIN, ACE, '--cfg-options', 'train_cfg.max_epochs=4',
        'train_cfg.val_interval=1', 'default_hooks.checkpoint.interval=1',
        'default_hooks.checkpoint.max_keep_ckpts=-1',
        'default_hooks.checkpoint.save_best=None',
        'custom_hooks.0.num_last_epochs=1'
    ]
    full, part = tmp_path / 'full', tmp_path / 'part'
    run_tool(train + ['--work-dir', full], cwd=tmp_path, env=ENV)

    proc = subprocess.Popen([str(a) for a in train + ['--work-dir', part]],
                            cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL,
                            env=dict(os.environ, **ENV))
    try:
        deadline = time.time() + 900
        while not (part / 'epoch_2.pth').exists() and \
                proc.poll() is None and time.time() < deadline:
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)  # Ctrl-C in epoch 3
        proc.wait(timeout=120)
    finally:
        proc.kill()
        proc.wait()
    assert not (part / 'epoch_4.pth').exists(), 'not interrupted'

    proc = run_tool(train + ['--work-dir', part, '--resume'], cwd=tmp_path,
                    env=ENV)
    out = output(proc)
    assert 'resumed epoch: 2' in out or 'resumed epoch: 3' in out, out[-2000:]
    assert 'Random states restored' in out

    a = torch.load(full / 'epoch_4.pth', map_location='cpu')['state_dict']
    b = torch.load(part / 'epoch_4.pth', map_location='cpu')['state_dict']
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


# 12. CE head with fewer classes than the training set ------------------------
@pytest.mark.slow
def test_ce_head_num_classes_mismatch_fails_before_training(tmp_path):
    out = run_failing([
        PYTHON, TRAIN, CE, '--work-dir', tmp_path, '--cfg-options',
        'model.head.num_classes=5'
    ], cwd=tmp_path)
    assert 'model.head.num_classes=5' in out and 'make them equal' in out
    assert 'has 10 classes' in out
    assert 'out of bounds' not in out and 'IndexError' not in out


# 13. --amp on a CPU-only machine -------------------------------------------
@pytest.mark.skipif(torch.cuda.is_available(), reason='has a GPU')
def test_amp_without_gpu_falls_back_to_fp32(ce_run):
    out, work = ce_run
    assert 'needs a GPU' in out and 'full precision (fp32)' in out
    assert (work / 'epoch_1.pth').is_file()


@pytest.mark.slow
def test_train_help_says_amp_needs_gpu():
    proc = run_tool([PYTHON, TRAIN, '--help'], cwd=REPO)
    assert 'needs a GPU' in ' '.join(output(proc).split())
