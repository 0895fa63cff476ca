"""SwitchOffBatchAugHook: Mixup off for the last epochs, resume-safe."""
from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.dataset import default_collate
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.runner import IterBasedTrainLoop, Runner
from mmpretrain.models import ClsDataPreprocessor
from mmpretrain.structures import DataSample
from torch.utils.data import DataLoader

import mmace  # noqa: F401  (registers the hook)
from mmace.engine import SwitchOffBatchAugHook


class RecordingLogger:

    def __init__(self):
        self.messages = []

    def info(self, msg):
        self.messages.append(msg)


def mixup_preprocessor():
    return ClsDataPreprocessor(
        num_classes=3,
        batch_augments=dict(augments=dict(type='Mixup', alpha=0.3)))


def fake_runner(max_epochs):
    model = SimpleNamespace(data_preprocessor=mixup_preprocessor())
    return SimpleNamespace(
        epoch=0,
        max_epochs=max_epochs,
        model=model,
        train_loop=SimpleNamespace(max_epochs=max_epochs),
        logger=RecordingLogger())


def run_epochs(hook, runner, start, stop):
    """Mixup state (on=True) seen by each epoch in [start, stop)."""
    hook.before_train(runner)
    states = {}
    for epoch in range(start, stop):
        runner.epoch = epoch
        hook.before_train_epoch(runner)
        states[epoch] = runner.model.data_preprocessor.batch_augments \
            is not None
    return states


def test_hook_switches_at_max_epochs_minus_num_last_epochs():
    hook, runner = SwitchOffBatchAugHook(num_last_epochs=3), fake_runner(10)
    states = run_epochs(hook, runner, 0, 10)
    assert states == {e: e < 7 for e in range(10)}
    assert runner.model.data_preprocessor.to_onehot  # labels stay one-hot
    assert len(runner.logger.messages) == 1
    assert 'epoch 8/10' in runner.logger.messages[0]


def test_hook_resume_after_and_before_switch_point():
    hook = SwitchOffBatchAugHook(num_last_epochs=3)
    # A fresh process resumed at epoch 8: Mixup is rebuilt from the config.
    assert run_epochs(hook, fake_runner(10), 8, 10) == {8: False, 9: False}
    assert run_epochs(hook, fake_runner(10), 5, 10) == {
        e: e < 7
        for e in range(5, 10)
    }


def test_hook_edge_cases():
    assert all(run_epochs(SwitchOffBatchAugHook(0), fake_runner(4), 0,
                          4).values())
    assert not any(
        run_epochs(SwitchOffBatchAugHook(20), fake_runner(4), 0, 4).values())
    for bad in (-1, 1.5, True, None):
        with pytest.raises(ValueError, match='num_last_epochs'):
            SwitchOffBatchAugHook(bad)

    runner = fake_runner(4)
    runner.train_loop = IterBasedTrainLoop.__new__(IterBasedTrainLoop)
    with pytest.raises(TypeError, match='epoch-based'):
        SwitchOffBatchAugHook(1).before_train(runner)


class ToyClassifier(BaseModel):

    def __init__(self):
        super().__init__(data_preprocessor=mixup_preprocessor())
        self.fc = nn.Linear(4, 3)
        self.seen_scores = []

    def forward(self, inputs, data_samples=None, mode='loss'):
        scores = torch.stack([s.gt_score for s in data_samples])
        self.seen_scores.append(scores)
        logits = self.fc(inputs.flatten(1))
        return dict(loss=-(scores * F.log_softmax(logits, 1)).sum(1).mean())


def test_hook_in_a_real_runner(tmp_path):

    class Recorder(Hook):
        priority = 'LOWEST'  # after SwitchOffBatchAugHook

        def __init__(self):
            self.states = []

        def before_train_epoch(self, runner):
            self.states.append(
                runner.model.data_preprocessor.batch_augments is not None)

    class ToyDataset(torch.utils.data.Dataset):
        # Fresh data samples per item, as a pipeline makes them: the
        # preprocessor writes the (mixed) gt_score into them.

        def __len__(self):
            return 8

        def __getitem__(self, i):
            return dict(
                inputs=torch.full((1, 2, 2), float(i)),
                data_samples=DataSample().set_gt_label(i % 3))

    recorder, model = Recorder(), ToyClassifier()
    runner = Runner(
        model=model,
        work_dir=str(tmp_path),
        train_dataloader=DataLoader(
            ToyDataset(), batch_size=4, collate_fn=default_collate),
        train_cfg=dict(by_epoch=True, max_epochs=3),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        default_hooks=dict(checkpoint=None),
        custom_hooks=[SwitchOffBatchAugHook(num_last_epochs=1), recorder],
        default_scope='mmpretrain')
    runner.train()
    assert recorder.states == [True, True, False]
    # Last epoch (2 iterations): unmixed, still one-hot score labels.
    for scores in model.seen_scores[-2:]:
        assert scores.shape == (4, 3)
        assert torch.equal(scores.sum(1), torch.ones(4))
        assert set(scores.unique().tolist()) == {0., 1.}
