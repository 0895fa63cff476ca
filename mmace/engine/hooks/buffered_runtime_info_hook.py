from typing import Dict, List, Optional

import torch
from mmengine.hooks import LoggerHook, RuntimeInfoHook
from mmpretrain.registry import HOOKS


@HOOKS.register_module()
class BufferedRuntimeInfoHook(RuntimeInfoHook):
    """mmengine's ``RuntimeInfoHook`` without a device sync per iteration.

    ``RuntimeInfoHook`` writes every loss term into the message hub after
    every iteration, and the hub reads each tensor with ``.item()``: one
    host-device synchronisation per term and iteration. For a small network
    on a GPU (ResNet-32 on 32x32 images) the host then waits for every step
    instead of queueing the next one. This hook keeps the detached terms on
    the device (a scalar term as a view of itself: no kernel per term) and
    hands them to the hub in one transfer, right before the
    ``LoggerHook`` reads them (every ``interval`` iterations of an epoch and
    at its last iteration), one hub entry per iteration as before: the
    logged window means are the same numbers.

    Other hooks that read ``train/<loss>`` scalars from the hub in the
    iterations between two logs see them late; mmengine's and mmace's own
    hooks read the model outputs instead.

    Use it in place of the default::

        default_hooks = dict(runtime_info=dict(type='BufferedRuntimeInfoHook'))

    Args:
        interval (int, optional): Flush every ``interval`` iterations of an
            epoch. Defaults to None: the runner's ``LoggerHook`` interval.
    """

    def __init__(self, interval: Optional[int] = None) -> None:
        super().__init__()
        if interval is not None and (not isinstance(interval, int)
                                     or isinstance(interval, bool)
                                     or interval < 1):
            raise ValueError('`interval` of BufferedRuntimeInfoHook must be '
                             f'an int >= 1 or None, but got {interval!r}.')
        self.interval = interval
        self._buffer: Dict[str, List[torch.Tensor]] = {}
        self._plain: Dict[str, list] = {}

    def _flush_interval(self, runner) -> int:
        if self.interval is not None:
            return self.interval
        for hook in runner.hooks:
            if isinstance(hook, LoggerHook):
                return hook.interval
        return 1

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs: Optional[dict] = None) -> None:
        for key, value in (outputs or {}).items():
            if torch.is_tensor(value):
                value = value.detach().float()
                # A scalar is kept as a view: no kernel per term.
                value = value.reshape(()) if value.numel() == 1 else \
                    value.reshape(-1).mean()
                self._buffer.setdefault(key, []).append(value)
            else:
                self._plain.setdefault(key, []).append(value)
        if (self.every_n_inner_iters(batch_idx, self._flush_interval(runner))
                or self.end_of_epoch(runner.train_dataloader, batch_idx)):
            self.flush(runner)

    def flush(self, runner) -> None:
        """Write the buffered terms into the hub, oldest first."""
        if self._buffer:
            lengths = [len(v) for v in self._buffer.values()]
            # One kernel and one transfer for every term of every buffered
            # iteration.
            flat = torch.stack([
                value for values in self._buffer.values() for value in values
            ]).cpu().tolist()
            start = 0
            for key, length in zip(self._buffer, lengths):
                for value in flat[start:start + length]:
                    runner.message_hub.update_scalar(f'train/{key}', value)
                start += length
        for key, history in self._plain.items():
            for value in history:
                runner.message_hub.update_scalar(f'train/{key}', value)
        self._buffer, self._plain = {}, {}

    def after_train(self, runner) -> None:
        self.flush(runner)
        super().after_train(runner)
