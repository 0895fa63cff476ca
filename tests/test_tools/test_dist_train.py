"""End-to-end: the repo's tools run as a user runs them."""
import json
import re
from pathlib import Path

import pytest
import torch

import mmace  # noqa: F401  (checkpoints load with weights_only=True)

from conftest import PYTHON, REPO, needs_cifar10_jpeg, run_tool

CE_CIFAR = REPO / 'configs/baseline/ce_r32_cifar10-lt-100.py'
CE_DIGITS = REPO / 'configs/quickstart/ce_r32_digits-lt.py'
# 300 images for the head class, IF=20 (300 ... 15): 953 real training
# images with many-, medium- and few-shot classes; a 1-epoch warm-up.
SHORT_CIFAR = [
    'train_dataloader.dataset.max_per_class=300',
    'train_dataloader.dataset.imb_factor=20', 'param_scheduler.0.end=1',
    'randomness.seed=0',
    'train_dataloader.num_workers=0', 'val_dataloader.num_workers=0',
    'test_dataloader.num_workers=0',
]


def last_scalars(work_dir: Path) -> dict:
    """The last validation metrics mmengine logged in vis_data/scalars.json."""
    files = sorted(work_dir.glob('*/vis_data/scalars.json'))
    assert files, f'no scalars.json under {work_dir}'
    rows = [json.loads(line) for line in files[-1].read_text().splitlines()]
    val = [r for r in rows if 'accuracy/top1' in r]
    assert val, f'no validation metrics in {files[-1]}'
    return val[-1]


@needs_cifar10_jpeg
@pytest.mark.slow
def test_train_then_test_ce_on_real_cifar10_lt(user_dir):
    work = user_dir / 'work'
    proc = run_tool([
        PYTHON, REPO / 'tools/train.py', CE_CIFAR, '--work-dir', work,
        '--cfg-options', 'train_cfg.max_epochs=3', 'train_cfg.val_interval=3',
        *SHORT_CIFAR
    ], cwd=user_dir)
    metrics = last_scalars(work)
    for key in ('accuracy/top1', 'accuracy/many', 'accuracy/medium',
                'accuracy/few'):
        assert 0.0 <= metrics[key] <= 100.0
    # Three epochs on 953 real images already beat chance (10%) on the
    # balanced 10,000-image test set.
    assert metrics['accuracy/top1'] > 12.0
    # The table is printed for people, not only logged for machines.
    assert re.search(r'many.*medium.*few', proc.stdout + proc.stderr,
                     re.I | re.S)

    ckpt = work / 'epoch_3.pth'
    assert ckpt.is_file()
    out = user_dir / 'metrics.json'
    run_tool([
        PYTHON, REPO / 'tools/test.py', CE_CIFAR, ckpt, '--work-dir', work,
        '--out', out, '--cfg-options', *SHORT_CIFAR
    ], cwd=user_dir)
    tested = json.loads(out.read_text())
    assert tested['accuracy/top1'] == pytest.approx(metrics['accuracy/top1'])


@pytest.mark.slow
def test_dist_train_two_cpu_processes(tmp_path):
    work = tmp_path / 'work'
    proc = run_tool([
        'bash', REPO / 'tools/dist_train.sh', CE_DIGITS, '2',
        '--work-dir', work, '--cfg-options', 'train_cfg.max_epochs=2',
        'train_cfg.val_interval=2'
    ], cwd=tmp_path, env={'PORT': '29517'})
    log = proc.stdout + proc.stderr
    assert re.search(r'world_size:\s*2|Distributed training: True', log), \
        log[-3000:]
    assert (work / 'epoch_2.pth').is_file()
    assert 'accuracy/top1' in json.dumps(last_scalars(work))


def _digits_no_aug_config(tmp_path: Path) -> Path:
    # Without augmentation a resumed run matches bit for bit even without
    # RNGStateHook; tests/test_reliability.py covers crops and Mixup.
    cfg = tmp_path / 'digits_no_aug.py'
    cfg.write_text(
        f"_base_ = '{CE_DIGITS}'\n"
        "train_dataloader = dict(dataset=dict(dataset=dict("
        "pipeline=[dict(type='PackInputs')])))\n"
        "randomness = dict(seed=0, deterministic=True)\n"
        "default_hooks = dict(checkpoint=dict(interval=1, max_keep_ckpts=-1,"
        " save_best=None))\n"
        "train_cfg = dict(max_epochs=4, val_interval=100)\n")
    return cfg


@pytest.mark.slow
def test_interrupted_then_resumed_run_matches_uninterrupted(tmp_path):
    cfg = _digits_no_aug_config(tmp_path)
    train = [PYTHON, REPO / 'tools/train.py', cfg]

    full = tmp_path / 'full'
    run_tool(train + ['--work-dir', full], cwd=tmp_path)

    part = tmp_path / 'part'
    # "Interrupted" after epoch 2 ...
    run_tool(train + ['--work-dir', part, '--cfg-options',
                      'train_cfg.max_epochs=2'], cwd=tmp_path)
    assert not (part / 'epoch_3.pth').exists()
    # ... then resumed (latest checkpoint in the work dir) to the end.
    proc = run_tool(train + ['--work-dir', part, '--resume'], cwd=tmp_path)
    assert 'resumed epoch: 2' in proc.stdout + proc.stderr

    a = torch.load(full / 'epoch_4.pth', map_location='cpu')['state_dict']
    b = torch.load(part / 'epoch_4.pth', map_location='cpu')['state_dict']
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_checkpoints_load_with_weights_only_default(tmp_path):
    """torch>=2.6 loads with weights_only=True; importing mmace allows it."""
    from mmengine.logging import HistoryBuffer, MessageHub
    hub = MessageHub('ckpt-test')
    hub.update_scalar('train/loss', 1.5)
    path = tmp_path / 'x.pth'
    torch.save({'message_hub': hub.state_dict(), 'meta': {'seed': 0}}, path)
    loaded = torch.load(path, weights_only=True)
    assert isinstance(loaded['message_hub']['log_scalars']['train/loss'],
                      HistoryBuffer)


ACE_CIFAR = REPO / 'configs/ace/ace_r32_cifar10-lt-100.py'
ACE_DIGITS = REPO / 'configs/quickstart/ace_r32_digits-lt.py'


@needs_cifar10_jpeg
@pytest.mark.slow
def test_train_ace_on_real_cifar10_lt_reports_each_expert(user_dir):
    work = user_dir / 'work'
    run_tool([
        PYTHON, REPO / 'tools/train.py', ACE_CIFAR, '--work-dir', work,
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


@pytest.mark.slow
def test_ace_checkpoint_tests_and_serves_with_mmpretrain_inferencer(tmp_path):
    import numpy as np
    from mmpretrain import ImageClassificationInferencer
    from sklearn.datasets import load_digits

    work = tmp_path / 'work'
    run_tool([
        PYTHON, REPO / 'tools/train.py', ACE_DIGITS, '--work-dir', work,
        '--cfg-options', 'train_cfg.max_epochs=2', 'train_cfg.val_interval=2',
        'custom_hooks.0.num_last_epochs=1'
    ], cwd=tmp_path)
    ckpt = work / 'epoch_2.pth'

    out = tmp_path / 'metrics.json'
    proc = run_tool([
        PYTHON, REPO / 'tools/test.py', ACE_DIGITS, ckpt, '--work-dir', work,
        '--out', out, '--expert-scores'
    ], cwd=tmp_path)
    tested = json.loads(out.read_text())
    assert {'accuracy/top1', 'accuracy/expert2_few'} <= tested.keys()
    assert 'expert3' in proc.stdout + proc.stderr  # the printed table

    # Config + checkpoint, no dataset: the planner's counts and masks come
    # from the checkpoint's buffers.
    inferencer = ImageClassificationInferencer(
        model=str(ACE_DIGITS), pretrained=str(ckpt), device='cpu')
    digits = load_digits()
    img = np.repeat((digits.images[0] * 255 / 16).astype(np.uint8)[..., None],
                    3, axis=2)
    result = inferencer(img)[0]
    assert result['pred_class'] in [str(i) for i in range(10)]
    assert np.isclose(np.sum(result['pred_scores']), 1.0, atol=1e-4)


@pytest.mark.slow
def test_dist_train_ace_two_cpu_processes(tmp_path):
    work = tmp_path / 'work'
    proc = run_tool([
        'bash', REPO / 'tools/dist_train.sh', ACE_DIGITS, '2',
        '--work-dir', work, '--cfg-options', 'train_cfg.max_epochs=2',
        'train_cfg.val_interval=2', 'custom_hooks.0.num_last_epochs=1'
    ], cwd=tmp_path, env={'PORT': '29518'})
    log = proc.stdout + proc.stderr
    assert 'Switch off batch augments' in log
    assert 'expert 3' in log  # the constructor's lr table
    assert (work / 'epoch_2.pth').is_file()

    out = tmp_path / 'metrics.json'
    run_tool([
        'bash', REPO / 'tools/dist_test.sh', ACE_DIGITS, work / 'epoch_2.pth',
        '2', '--work-dir', work, '--out', out, '--expert-scores'
    ], cwd=tmp_path, env={'PORT': '29519'})
    assert 'accuracy/expert3_few' in json.loads(out.read_text())
