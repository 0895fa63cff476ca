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


def _cifar_folders(root, per_class):
    """CIFAR-10 class folders, ``per_class`` random 32x32 images each."""
    import cv2
    import numpy as np
    from mmpretrain.datasets import CIFAR10
    rng = np.random.default_rng(0)
    for split in ('train', 'test'):
        for name in CIFAR10.METAINFO['classes']:
            (root / split / name).mkdir(parents=True)
            for i in range(per_class):
                cv2.imwrite(str(root / split / name / f'{i}.png'),
                            rng.integers(0, 256, (32, 32, 3), np.uint8))


@pytest.mark.slow
@pytest.mark.parametrize('method', ['crt', 'lws'])
def test_dist_train_second_stage_two_cpu_processes(method, tmp_path):
    """cRT and LWS freeze part of a first-stage model; under DDP (which
    wraps the model before any hook runs) the frozen parameters must be
    frozen before wrapping. Both configs train 2 epochs on 2 processes, and
    the frozen weights stay the first stage's."""
    import torch
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import MODELS

    data = tmp_path / 'cifar10'
    _cifar_folders(data, per_class=4)
    stage1_cfg = Config.fromfile(
        REPO / 'configs/baseline/ce_r32_cifar10-lt-100.py')
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        stage1 = MODELS.build(stage1_cfg.model).state_dict()
    ckpt = tmp_path / 'stage1.pth'
    torch.save(dict(state_dict=stage1), ckpt)

    config = REPO / f'configs/baseline/{method}_r32_cifar10-lt-100.py'
    work = tmp_path / 'work'
    run_tool([
        'bash', REPO / 'tools/dist_train.sh', config, '2', '--work-dir', work,
        '--no-validate', '--cfg-options', f'load_from={ckpt}',
        f'train_dataloader.dataset.dataset.data_root={data}',
        'train_dataloader.dataset.imb_factor=None',
        'train_dataloader.batch_size=4', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False', 'train_cfg.max_epochs=2',
        'param_scheduler.0.T_max=2', 'default_hooks.checkpoint.interval=2'
    ], cwd=tmp_path, env={'PORT': '29520', 'OMP_NUM_THREADS': '1'})
    after = torch.load(work / 'epoch_2.pth', map_location='cpu',
                       weights_only=False)['state_dict']
    frozen = [k for k in stage1 if k.startswith('backbone.')]
    if method == 'lws':
        frozen += ['head.fc.weight', 'head.fc.bias']
        assert not torch.equal(after['head.fc.scale'], torch.ones(10))
    else:
        assert not torch.allclose(after['head.fc.weight'],
                                  stage1['head.fc.weight'], atol=1e-3)
    for key in frozen:
        assert torch.equal(after[key], stage1[key]), key
