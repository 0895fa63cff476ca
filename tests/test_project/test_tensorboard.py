"""MMACE_TENSORBOARD=1 adds mmengine's TensorboardVisBackend to the runtime."""
import json

import pytest
from mmengine.config import Config

from conftest import PYTHON, REPO, run_tool

ACE = REPO / 'configs/quickstart/ace_r32_digits-lt.py'
SPLIT_TAGS = ('accuracy/top1', 'accuracy/many', 'accuracy/medium',
              'accuracy/few', 'accuracy/expert1_many', 'accuracy/expert3_few')


def _backends(monkeypatch, value):
    if value is None:
        monkeypatch.delenv('MMACE_TENSORBOARD', raising=False)
    else:
        monkeypatch.setenv('MMACE_TENSORBOARD', value)
    return [b['type'] for b in Config.fromfile(ACE).visualizer.vis_backends]


def test_switch_adds_tensorboard_and_keeps_local(monkeypatch):
    assert _backends(monkeypatch, None) == ['LocalVisBackend']
    assert _backends(monkeypatch, '0') == ['LocalVisBackend']
    assert _backends(monkeypatch, '1') == [
        'LocalVisBackend', 'TensorboardVisBackend'
    ]


@pytest.mark.slow
def test_split_accuracies_are_tensorboard_scalars(tmp_path):
    event_accumulator = pytest.importorskip(
        'tensorboard.backend.event_processing.event_accumulator')
    work = tmp_path / 'work'
    run_tool([
        PYTHON, REPO / 'tools/train.py', ACE, '--work-dir', work,
        '--cfg-options', 'train_cfg.max_epochs=1', 'train_cfg.val_interval=1'
    ], cwd=tmp_path, env={'MMACE_TENSORBOARD': '1'})
    events = sorted(work.glob('*/vis_data/events.out.tfevents.*'))
    assert len(events) == 1, list(work.rglob('*'))
    acc = event_accumulator.EventAccumulator(str(events[0]))
    acc.Reload()
    tags = set(acc.Tags()['scalars'])
    assert set(SPLIT_TAGS) <= tags, sorted(tags)
    # The same values as the local backend's scalars.json.
    local = [
        json.loads(line) for line in
        next(work.glob('*/vis_data/scalars.json')).read_text().splitlines()
    ]
    val = [row for row in local if 'accuracy/many' in row][-1]
    for tag in SPLIT_TAGS:
        event = acc.Scalars(tag)[-1]
        assert event.step == val['step'] == 1
        assert event.value == pytest.approx(val[tag], abs=1e-4)
