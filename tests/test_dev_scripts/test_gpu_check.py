"""gpu_check.sh (--smoke, on CPU) and loop_overhead.py run and report.

Sizes are tiny; nothing about speed is asserted.
"""
import json

import pytest

import torch
from conftest import PYTHON, REPO, run_tool

GPU_CHECK = REPO / '.dev_scripts/benchmark/gpu_check.sh'
LOOP = REPO / '.dev_scripts/benchmark/loop_overhead.py'
ACE_DIGITS = REPO / 'configs/quickstart/ace_r32_digits-lt.py'


@pytest.mark.slow
def test_gpu_check_smoke_on_cpu(tmp_path):
    out = tmp_path / 'speed.json'
    proc = run_tool(['bash', GPU_CHECK, '--smoke', '--device', 'cpu',
                     '--json', out], cwd=tmp_path, timeout=600)
    text = proc.stdout
    assert 'speed check: CPU' in text and 'SMOKE' in text
    header = next(line for line in text.splitlines()
                  if line.startswith('model ') and 'AMP' in line)
    for column in ('AMP', 'channels_last', 'compile', 'train img/s',
                   'infer img/s', 'peak MiB'):
        assert column in header
    assert '400 epochs EXTRAPOLATED' in text
    res = json.loads(out.read_text())
    timed = [r for r in res['rows'] if 'train_img_s' in r]
    assert {(r['model'], r['channels_last']) for r in timed} == {
        ('CE', False), ('CE', True), ('ACE', False), ('ACE', True)}
    assert all(r['train_img_s'] > 0 and r['infer_img_s'] > 0 for r in timed)
    # AMP rows say why they are empty on a CPU.
    assert sum(r.get('note') == 'AMP needs CUDA' for r in res['rows']) == 2
    recipe = res['recipe']
    # 100 generated images per class, long-tailed at imbalance 100.
    assert recipe['epochs'] == 1 and recipe['images_per_epoch'] == 2131
    assert recipe['extrapolated_400_epochs_s'] > sum(
        recipe['train_epoch_s'])


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


@pytest.mark.slow
def test_train_with_channels_last_hook_then_resume(tmp_path):
    work = tmp_path / 'work'
    train = [
        PYTHON, REPO / 'tools/train.py', ACE_DIGITS, '--work-dir', work,
        '--amp', '--cfg-options', 'default_hooks.channels_last.type='
        'ChannelsLastHook', 'train_dataloader.num_workers=0',
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
