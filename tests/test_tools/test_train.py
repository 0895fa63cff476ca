"""tools/train.py as a user runs it: real runs, resuming, and faults.

Faults and bad inputs, through the real tool: divergence, the
checkpoint of another model, corrupt checkpoints, a run killed while saving,
resuming (bit-exact, augmentation included), CPU-only ``--amp``, a head whose
``num_classes`` is not the training set's, bad ACE options and corrupt images.
Runs are tiny quick-start (sklearn digits) runs, or a few hundred real
CIFAR-10 images; work dirs live in ``tmp_path``; the session's
``trained_digits`` provides the checkpoints that are only read.
"""
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch

import mmace  # noqa: F401  (checkpoints load with weights_only=True)
from mmace.utils.checkpoint_io import read_checkpoint

from conftest import (ACE_DIGITS, CE_DIGITS, PYTHON, REPO,
                      assert_one_clear_error, corrupt_checkpoint,
                      last_scalars, make_cifar_tree, needs_cifar10_jpeg,
                      run_failing, run_tool)

ACE, CE = ACE_DIGITS, CE_DIGITS
ACE_CIFAR = REPO / 'configs/ace/ace_r32_cifar10-lt-100.py'
CE_CIFAR = REPO / 'configs/baseline/ce_r32_cifar10-lt-100.py'
TRAIN = REPO / 'tools/train.py'


# One thread: the bit-exact comparisons need the same reduction order.
ENV = {'OMP_NUM_THREADS': '1'}


def output(proc) -> str:
    return proc.stdout + proc.stderr


def all_finite(path: Path) -> bool:
    state = read_checkpoint(str(path))['state_dict']
    return all(bool(torch.isfinite(v).all()) for v in state.values()
               if v.is_floating_point())


# Real CIFAR-10-LT runs -----------------------------------------------------
# 300 images for the head class, IF=20 (300 ... 15): 1,018 real training
# images with many-, medium- and few-shot classes; a 1-epoch warm-up.
SHORT_CIFAR = [
    'train_dataloader.dataset.max_per_class=300',
    'train_dataloader.dataset.imb_factor=20', 'param_scheduler.0.end=1',
    'randomness.seed=0',
    'train_dataloader.num_workers=0', 'val_dataloader.num_workers=0',
    'test_dataloader.num_workers=0',
]


def every_tenth_test_image(user_dir: Path, config: Path) -> Path:
    """``config`` validated and tested on every 10th real test image: 100
    per class (the folders are read in class order), a tenth of the time."""
    cfg = user_dir / f'{config.stem}_val1000.py'
    subset = "dict(dataset=dict(indices=list(range(0, 10000, 10))))"
    cfg.write_text(f"_base_ = '{config}'\n"
                   f"val_dataloader = {subset}\n"
                   f"test_dataloader = {subset}\n")
    return cfg


@needs_cifar10_jpeg
@pytest.mark.slow
def test_train_then_test_ce_on_real_cifar10_lt(user_dir):
    work = user_dir / 'work'
    config = every_tenth_test_image(user_dir, CE_CIFAR)
    proc = run_tool([
        PYTHON, REPO / 'tools/train.py', config, '--work-dir', work,
        '--cfg-options', 'train_cfg.max_epochs=3', 'train_cfg.val_interval=3',
        *SHORT_CIFAR
    ], cwd=user_dir)
    metrics = last_scalars(work)
    for key in ('accuracy/top1', 'accuracy/many', 'accuracy/medium',
                'accuracy/few'):
        assert 0.0 <= metrics[key] <= 100.0
    # Three epochs on 1,018 real images already beat chance (10%) on 1,000
    # balanced test images.
    assert metrics['accuracy/top1'] > 12.0
    # The table is printed for people, not only logged for machines.
    assert re.search(r'many.*medium.*few', proc.stdout + proc.stderr,
                     re.I | re.S)

    ckpt = work / 'epoch_3.pth'
    assert ckpt.is_file()
    out = user_dir / 'metrics.json'
    run_tool([
        PYTHON, REPO / 'tools/test.py', config, ckpt, '--work-dir', work,
        '--out', out, '--cfg-options', *SHORT_CIFAR
    ], cwd=user_dir)
    tested = json.loads(out.read_text())
    assert tested['accuracy/top1'] == pytest.approx(metrics['accuracy/top1'])


@needs_cifar10_jpeg
@pytest.mark.slow
def test_train_ace_on_real_cifar10_lt_reports_each_expert(user_dir):
    work = user_dir / 'work'
    run_tool([
        PYTHON, REPO / 'tools/train.py',
        every_tenth_test_image(user_dir, ACE_CIFAR), '--work-dir', work,
        '--cfg-options', 'train_cfg.max_epochs=3', 'train_cfg.val_interval=3',
        'custom_hooks.0.num_last_epochs=1',
        'model.head.return_expert_scores=True', *SHORT_CIFAR
    ], cwd=user_dir)
    metrics = last_scalars(work)
    assert metrics['accuracy/top1'] > 12.0  # chance: 10%
    for i in (1, 2, 3):
        for split in ('top1', 'many', 'medium', 'few'):
            assert 0.0 <= metrics[f'accuracy/expert{i}_{split}'] <= 100.0
    # Expert 3 never targets the most frequent classes (Eq. 1).
    assert metrics['accuracy/expert3_many'] == 0.0


# 1. Divergence ------------------------------------------------------------
@pytest.mark.slow
def test_divergence_stops_at_first_non_finite_loss(tmp_path):
    work = tmp_path / 'work'
    out = run_failing([
        PYTHON, TRAIN, ACE, '--work-dir', work, '--cfg-options',
        'optim_wrapper.optimizer.lr=1e6', 'train_cfg.max_epochs=2',
        'default_hooks.checkpoint.interval=1'
    ], cwd=tmp_path, env=ENV)
    assert_one_clear_error(out, 'NonFiniteLossError')
    msg = out[out.index('NonFiniteLossError: '):].splitlines()[0]
    assert 'at epoch 1, iter ' in msg, msg
    assert 'loss_cls_e' in msg and 'nan' in msg, msg
    assert ' lr=' in msg, msg
    assert 'NonFiniteLossHook out of the config\'s custom_hooks' in msg, msg
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
    ], cwd=tmp_path, env=ENV)
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
    config = tmp_path / 'ace_unchecked.py'
    config.write_text(
        f"_base_ = '{ACE}'\n"
        "custom_hooks = [h for h in _base_.custom_hooks\n"
        "                if h['type'] != 'NonFiniteLossHook']\n")
    run_tool([
        PYTHON, TRAIN, config, '--work-dir', work, '--no-validate',
        '--cfg-options', 'optim_wrapper.optimizer.lr=1e6',
        'train_cfg.max_epochs=1'
    ], cwd=tmp_path, env=ENV)
    assert not all_finite(work / 'epoch_1.pth')


# 2. Checkpoint of another model ---------------------------------------------
@pytest.mark.slow
def test_resume_refuses_checkpoint_of_another_model(trained_digits, tmp_path):
    ckpt = trained_digits.ce.ckpt(1)
    out = run_failing([
        PYTHON, TRAIN, ACE, '--work-dir', tmp_path, '--resume', ckpt
    ], cwd=tmp_path, env=ENV)
    assert_one_clear_error(out, 'CheckpointError')
    assert 'load_from=<checkpoint> without --resume' in out


@pytest.mark.slow
def test_fine_tuning_from_another_model_stays_possible(trained_digits,
                                                       tmp_path):
    ckpt = trained_digits.ce.ckpt(1)
    proc = run_tool([
        PYTHON, TRAIN, ACE, '--work-dir', tmp_path, '--no-validate',
        '--cfg-options', f'load_from={ckpt}', 'train_cfg.max_epochs=1'
    ], cwd=tmp_path, env=ENV)
    assert 'does not fit the model' in output(proc)
    assert (tmp_path / 'epoch_1.pth').is_file()


# 4. Corrupt checkpoints ----------------------------------------------------
@pytest.mark.slow
def test_auto_resume_falls_back_to_newest_readable(trained_digits, tmp_path):
    work = tmp_path / 'work'
    work.mkdir()
    (work / 'epoch_1.pth').write_bytes(trained_digits.ace.ckpt(1).read_bytes())
    corrupt_checkpoint('truncated', trained_digits.ace.ckpt(2),
                       work / 'epoch_2.pth')
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
def test_auto_resume_with_only_corrupt_checkpoints_fails(trained_digits,
                                                         tmp_path):
    work = tmp_path / 'work'
    work.mkdir()
    corrupt_checkpoint('empty', trained_digits.ace.ckpt(1),
                       work / 'epoch_1.pth')
    out = run_failing([PYTHON, TRAIN, ACE, '--work-dir', work, '--resume'],
                      cwd=tmp_path, env=ENV)
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
def test_resume_in_empty_work_dir_says_so(trained_digits):
    # The session's CE run started with --resume in an empty work dir.
    out, work = trained_digits.ce.output, trained_digits.ce.work_dir
    assert 'no checkpoint found in work_dir' in out
    assert 'training starts from scratch' in out
    assert 'latest checkpoint None' not in out
    assert (work / 'epoch_1.pth').is_file()


# 10. Resume reproduces the run, augmentation included; SIGINT kept ---------
# (Extending a finished run: test_train_with_channels_last_hook_then_resume.)
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

    # Ctrl-C acts as in a terminal even where the suite runs with SIGINT
    # ignored (a shell's background job), which the child would inherit.
    proc = subprocess.Popen([str(a) for a in train + ['--work-dir', part]],
                            cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL,
                            env=dict(os.environ, **ENV),
                            preexec_fn=lambda: signal.signal(
                                signal.SIGINT, signal.SIG_DFL))
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


# ChannelsLastHook ------------------------------------------------------------
@pytest.mark.slow
def test_train_with_channels_last_hook_then_resume(tmp_path):
    work = tmp_path / 'work'
    # ChannelsLastHook comes with the default runtime's custom_hooks.
    train = [
        PYTHON, REPO / 'tools/train.py', ACE_DIGITS, '--work-dir', work,
        '--amp', '--cfg-options', 'train_dataloader.num_workers=0',
        'val_dataloader.num_workers=0', 'train_cfg.val_interval=1'
    ]
    proc = run_tool(train + ['train_cfg.max_epochs=1'], cwd=tmp_path)
    out = proc.stdout + proc.stderr
    assert 'ImageClassifier on cpu runs in channels_last' in out
    assert 'accuracy/top1' in out  # validation ran in channels_last too
    # The checkpoint is an ordinary NCHW one: resume continues from it.
    ckpt = torch.load(work / 'epoch_1.pth', map_location='cpu',
                      weights_only=False)
    conv = ckpt['state_dict']['backbone.trunk.conv1.weight']
    assert conv.is_contiguous()
    proc = run_tool(train + ['train_cfg.max_epochs=2', '--resume'],
                    cwd=tmp_path)
    out = proc.stdout + proc.stderr
    assert 'resumed epoch: 1' in out
    assert (work / 'epoch_2.pth').is_file()


# 12. CE head with fewer classes than the training set ------------------------
@pytest.mark.slow
def test_ce_head_num_classes_mismatch_fails_before_training(tmp_path):
    out = run_failing([
        PYTHON, TRAIN, CE, '--work-dir', tmp_path, '--cfg-options',
        'model.head.num_classes=5'
    ], cwd=tmp_path, env=ENV)
    assert 'model.head.num_classes=5' in out and 'make them equal' in out
    assert 'have 10 classes' in out
    assert 'out of bounds' not in out and 'IndexError' not in out


# 6, 7. Bad ACE options ------------------------------------------------------
def train_fails(tmp_path, *options):
    proc = subprocess.run(
        [PYTHON, REPO / 'tools/train.py', ACE_DIGITS, '--work-dir',
         tmp_path / 'work', '--cfg-options', 'train_cfg.max_epochs=1',
         *options],
        cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0, proc.stdout[-2000:]
    return proc.stderr


@pytest.mark.parametrize('option, message', [
    ('model.backbone.num_experts=three',
     "ACEBackbone: num_experts='three' must be an integer"),
    ('model.head.rescale=Squared', "ACEHead: unknown rescale 'Squared'"),
    ('model.head.num_experts=4', 'model.backbone.num_experts=3 and '
     'model.head.num_experts=4 differ'),
    ('optim_wrapper.paramwise_cfg.lr_scheme=cosine',
     "lr_scheme` 'cosine'"),
])
@pytest.mark.slow
def test_train_py_names_the_bad_option(tmp_path, option, message):
    stderr = train_fails(tmp_path, option)
    # The message is the last line a user sees.
    assert message in stderr.strip().splitlines()[-1], stderr[-3000:]
    # Nothing was trained.
    assert not list((tmp_path / 'work').glob('*.pth'))


# 13. --amp on a CPU-only machine -------------------------------------------
@pytest.mark.skipif(torch.cuda.is_available(), reason='has a GPU')
def test_amp_without_gpu_falls_back_to_fp32(trained_digits):
    # The session's CE run had --amp where there is no GPU.
    out, work = trained_digits.ce.output, trained_digits.ce.work_dir
    assert 'needs a GPU' in out and 'full precision (fp32)' in out
    assert (work / 'epoch_1.pth').is_file()


@pytest.mark.slow
def test_train_help_says_amp_needs_gpu():
    proc = run_tool([PYTHON, TRAIN, '--help'], cwd=REPO)
    assert 'needs a GPU' in ' '.join(output(proc).split())


# 3. Corrupt images ----------------------------------------------------------
@needs_cifar10_jpeg
@pytest.mark.slow
def test_train_tool_names_bad_image_or_skips_it(tmp_path):
    make_cifar_tree(tmp_path / 'data' / 'cifar10', 20,
                    ['empty', 'truncated', 'not-an-image'])
    train = [
        PYTHON, REPO / 'tools/train.py', CE_CIFAR, '--work-dir',
        tmp_path / 'work', '--no-validate', '--cfg-options',
        'train_cfg.max_epochs=1', 'train_dataloader.dataset.imb_factor=1',
        'train_dataloader.num_workers=0', 'randomness.seed=0'
    ]
    proc = subprocess.run([str(a) for a in train], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-3000:]
    assert 'BadImageError: CIFARFolder: cannot decode image' in out, \
        out[-3000:]
    assert 'Traceback' not in out
    line = out[out.index('BadImageError: '):].splitlines()[0]
    assert any(f'zz_{k}.jpg' in line
               for k in ('empty', 'truncated', 'not-an-image')), line

    proc = run_tool(
        train + ['train_dataloader.dataset.dataset.skip_bad_images=True'],
        cwd=tmp_path)
    out = proc.stdout + proc.stderr
    for kind in ('empty', 'truncated', 'not-an-image'):
        assert f"skipped bad image 'data/cifar10/train/cat/zz_{kind}.jpg'" \
            in out, out[-3000:]
    assert '3 skipped so far' in out
    assert (tmp_path / 'work' / 'epoch_1.pth').is_file()
