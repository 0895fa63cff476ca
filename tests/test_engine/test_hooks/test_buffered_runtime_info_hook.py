"""BufferedRuntimeInfoHook: the same hub history as RuntimeInfoHook, written
at the logging iterations only."""
from types import SimpleNamespace

import pytest
import torch
from mmengine.hooks import RuntimeInfoHook
from mmengine.logging import MessageHub

from mmace.engine.hooks import BufferedRuntimeInfoHook
from mmace.testing import OpCounter


def fake_runner(name, iters_per_epoch):
    return SimpleNamespace(
        message_hub=MessageHub.get_instance(name), hooks=[],
        train_dataloader=[None] * iters_per_epoch)


def history(runner, key):
    return runner.message_hub.get_scalar(key).data[0].tolist()


def test_same_history_as_runtime_info_hook_written_at_intervals():
    outputs = [dict(loss=torch.tensor(float(i)), loss_b=torch.tensor(
        2. * i), acc=0.5 * i) for i in range(7)]
    plain, buffered = fake_runner('plain', 7), fake_runner('buffered', 7)
    hook = BufferedRuntimeInfoHook(interval=3)
    written = []
    for i, out in enumerate(outputs):
        RuntimeInfoHook().after_train_iter(plain, i, None, out)
        hook.after_train_iter(buffered, i, None, out)
        scalars = buffered.message_hub.log_scalars
        written.append(len(history(buffered, 'train/loss'))
                       if 'train/loss' in scalars else 0)
    # Written after the 3rd and 6th iterations and at the epoch's end.
    assert written == [0, 0, 3, 3, 3, 6, 7]
    for key in ('train/loss', 'train/loss_b', 'train/acc'):
        assert history(buffered, key) == pytest.approx(history(plain, key))


def test_interval_follows_the_logger_hook():
    from mmengine.hooks import LoggerHook
    runner = fake_runner('logger', 10)
    runner.hooks = [LoggerHook(interval=4)]
    hook = BufferedRuntimeInfoHook()
    for i in range(4):
        hook.after_train_iter(runner, i, None, dict(loss=torch.tensor(1.)))
        assert ('train/loss' in runner.message_hub.log_scalars) == (i == 3)


def test_bad_interval_is_named():
    with pytest.raises(ValueError, match='interval'):
        BufferedRuntimeInfoHook(interval=0)


def test_no_kernel_per_term_between_logs():
    # Seven scalar terms, as ACE (3 experts) returns them.
    outputs = {f'loss_{i}': torch.tensor(float(i)) for i in range(7)}
    runner = fake_runner('no_kernels', 10)
    hook = BufferedRuntimeInfoHook(interval=5)
    per_iter = []
    for i in range(5):
        with OpCounter() as count:
            count.phase = 'hook'
            hook.after_train_iter(runner, i, None, outputs)
        per_iter.append(count.counts['hook'])
    # Nothing launched until the flush, which stacks every term at once.
    assert per_iter[:4] == [0, 0, 0, 0]
    assert per_iter[4] <= 2
    assert history(runner, 'train/loss_6') == [6.] * 5
