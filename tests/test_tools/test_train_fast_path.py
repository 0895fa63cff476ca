"""tools/train.py --fast-path / --amp / --cfg-options, as a user runs them
(on a CPU here; the same flags are meant for a GPU): the fast path trains
the same recipe as the default path, and sees the command line's
overrides."""
import importlib.util
import json
import sys

import pytest
import torch.nn as nn
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope

from conftest import ACE_DIGITS, PYTHON, REPO, run_tool
from mmace.engine.optimizers import BF16OptimWrapper

TRAIN = REPO / 'tools' / 'train.py'
AMP_CONFIGS = sorted(REPO.glob('configs/**/*_amp.py'))
# Digits are 8x8 with RandomCrop(crop_size=8, padding=1): padding 0 makes
# the crop the identity, so both paths see the same pixels.
NO_CROP = 'train_dataloader.dataset.dataset.pipeline.0.padding=0'


def merged(monkeypatch, config, *argv) -> Config:
    """The config tools/train.py would build from this command line."""
    spec = importlib.util.spec_from_file_location('mmace_train_tool', TRAIN)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    monkeypatch.setattr(sys, 'argv', ['train.py', str(config), *argv])
    return tool.merge_args(Config.fromfile(config), tool.parse_args())


def test_cfg_options_are_applied_before_the_fast_path(monkeypatch):
    cfg = merged(monkeypatch, ACE_DIGITS, '--fast-path', '--cfg-options',
                 'default_hooks.logger.interval=3',
                 'train_dataloader.dataset.dataset.pipeline.0.padding=2')
    # The finiteness check is read at the overridden logging interval, and
    # the crop moved with the overridden padding.
    assert [h.get('interval') for h in cfg.custom_hooks
            if h['type'] == 'NonFiniteLossHook'] == [3]
    assert cfg.data_preprocessor.crop_padding == 2
    assert [t['type'] for t in
            cfg.train_dataloader.dataset.dataset.pipeline] == ['PackInputs']


@pytest.mark.parametrize('config', AMP_CONFIGS, ids=lambda p: p.name)
def test_amp_bf16_replaces_the_fp16_wrapper_of_amp_configs(
        monkeypatch, config):
    optim = merged(monkeypatch, config, '--amp', 'bf16').optim_wrapper
    # The ACE constructor needs the full model; the wrapper's own
    # arguments are what the bf16 switch changes.
    optim = {k: v for k, v in optim.items()
             if k not in ('constructor', 'paramwise_cfg')}
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        wrapper = build_optim_wrapper(nn.Linear(2, 2), optim)
    assert type(wrapper) is BF16OptimWrapper


def test_amp_configs_exist():
    assert AMP_CONFIGS, 'no configs/**/*_amp.py to check --amp bf16 on'


def logged_losses(work_dir):
    scalars = sorted(work_dir.glob('*/vis_data/scalars.json'))[-1]
    rows = [json.loads(line) for line in scalars.read_text().splitlines()]
    return [r['loss'] for r in rows if 'loss' in r]


@pytest.mark.slow
def test_fast_path_trains_what_the_default_path_trains(tmp_path):
    common = [
        '--no-validate', '--cfg-options', 'train_cfg.max_epochs=1',
        'default_hooks.logger.interval=1', NO_CROP
    ]
    env = {'OMP_NUM_THREADS': '1'}
    for name, extra in (('default', []), ('fast', ['--fast-path'])):
        run_tool([PYTHON, TRAIN, ACE_DIGITS, '--work-dir', tmp_path / name,
                  *extra, *common], cwd=tmp_path, env=env)
    default = logged_losses(tmp_path / 'default')
    fast = logged_losses(tmp_path / 'fast')
    assert len(default) == len(fast) > 5
    # The same batches, Mixup draws and updates: the same losses (fused
    # SGD rounds differently from the per-group update, hence a tolerance).
    assert fast[0] == pytest.approx(default[0], rel=1e-6)
    assert fast == pytest.approx(default, rel=1e-3)


@pytest.mark.slow
def test_amp_bf16_trains_an_amp_config_on_the_fast_path(tmp_path):
    config = tmp_path / 'ace_digits_amp.py'
    config.write_text(f"_base_ = '{ACE_DIGITS}'\n"
                      "optim_wrapper = dict(type='AmpOptimWrapper', "
                      "loss_scale='dynamic')\n")
    work = tmp_path / 'work'
    run_tool([
        PYTHON, TRAIN, config, '--work-dir', work, '--fast-path', '--amp',
        'bf16', '--channels-last', '--no-validate', '--cfg-options',
        'train_cfg.max_epochs=1'
    ], cwd=tmp_path, env={'OMP_NUM_THREADS': '1'})
    losses = logged_losses(work)
    assert losses and all(loss == loss for loss in losses)  # not NaN
