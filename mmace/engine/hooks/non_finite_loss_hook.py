import math
from typing import Optional

import torch
from mmengine.dist import all_reduce, get_world_size
from mmengine.hooks import CheckpointHook, Hook
from mmengine.model import is_model_wrapper
from mmpretrain.registry import HOOKS

from mmace.utils.errors import NonFiniteLossError


def _value(x) -> float:
    return float(x.detach().float().mean()) if torch.is_tensor(x) \
        else float(x)


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Stop training at the first NaN/inf loss, before it is saved.

    Without it, a diverged run (e.g. a learning rate 1e6 too high) trains on
    with ``nan`` losses, writes checkpoints full of NaN and may even keep one
    as the "best". After every training iteration this hook checks each
    ``loss*`` term the model returned and raises
    :class:`~mmace.utils.errors.NonFiniteLossError` naming the epoch, the
    iteration, the non-finite terms and the learning rate.

    A finite loss can still leave non-finite weights behind (the last step
    of an epoch), so the weights are checked too whenever a
    ``CheckpointHook`` is about to save, and once more inside
    ``before_save_checkpoint``. The hook's priority is above
    ``CheckpointHook`` (VERY_LOW), so it raises before any checkpoint of the
    broken weights is written; checkpoints already on disk stay untouched.

    mmace's ``configs/_base_/default_runtime.py`` lists it in
    ``custom_hooks``; a config without it trains on regardless.

    Reading a loss on the host waits for the device. On a GPU, where a
    small network's steps are short, ``interval > 1`` adds the losses into
    a running sum on the device (NaN and inf carry through a sum; finite
    losses above 1e37 would overflow it, and count as diverged) and reads
    its finiteness every ``interval`` iterations of an
    epoch (and at its end, and before a checkpoint): a divergence is then
    reported up to ``interval - 1`` iterations late, as a range of
    iterations, still before any checkpoint of the broken weights.

    Args:
        check_weights (bool): Whether to also check the weights before a
            checkpoint is saved. Defaults to True.
        interval (int): Read the losses every ``interval`` iterations.
            Defaults to 1 (every iteration).
    """

    priority = 'NORMAL'

    def __init__(self, check_weights: bool = True, interval: int = 1) -> None:
        if not isinstance(interval, int) or isinstance(interval, bool) \
                or interval < 1:
            raise ValueError('`interval` of NonFiniteLossHook must be an int '
                             f'>= 1, but got {interval!r}.')
        self.check_weights = check_weights
        self.interval = interval
        # Sum of the losses of the unread iterations, on the device.
        self._unread_sum = None
        self._first_unread = None

    def _where(self, runner, batch_idx: Optional[int] = None) -> str:
        loop = runner.train_loop
        epoch = f'epoch {runner.epoch + 1}'
        if batch_idx is None:
            return f'{epoch} (end), iter {runner.iter}'
        per_epoch = len(loop.dataloader) if hasattr(loop, 'dataloader') \
            else '?'
        return (f'{epoch}, iter {batch_idx + 1}/{per_epoch} of the epoch '
                f'(global iter {runner.iter + 1})')

    @staticmethod
    def _lr(runner) -> str:
        try:
            lrs = runner.optim_wrapper.get_lr()
        except Exception:  # exotic optim wrappers; the lr is only a hint
            return 'lr=?'
        parts = []
        for name, values in lrs.items():
            if 'base_lr' in name:
                continue
            unique = list(dict.fromkeys(f'{v:.4g}' for v in values))
            shown = unique[0] if len(unique) == 1 else \
                f"{unique[0]} (param groups: {', '.join(unique)})"
            parts.append(f'{name}={shown}')
        return ', '.join(parts)

    @staticmethod
    def _last_ckpt(runner) -> str:
        last = runner.message_hub.get_info('last_ckpt')
        return (f'the last checkpoint, {last}, is untouched' if last else
                'no checkpoint had been written yet')

    def _raise(self, runner, what: str, where: str) -> None:
        raise NonFiniteLossError(
            f'non-finite {what} at {where}; {self._lr(runner)}. Training '
            f'stopped before saving these weights ({self._last_ckpt(runner)}'
            '). Lower the learning rate (optim_wrapper.optimizer.lr) or '
            'check the data; to train on regardless, leave '
            'NonFiniteLossHook out of the config\'s custom_hooks.')

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs: Optional[dict] = None) -> None:
        losses = {k: v for k, v in (outputs or {}).items() if 'loss' in k}
        where = None  # named only when there is something to report
        if self.interval > 1:
            # A sum is finite only if every summand is (NaN and inf carry
            # through it), and mmengine's parse_losses makes `loss` the sum
            # of every other `*loss*` term: one add per iteration into a
            # running sum, instead of a check per term.
            total = losses.get('loss')
            tensors = [total] if torch.is_tensor(total) else [
                v for v in losses.values() if torch.is_tensor(v)
            ]
            if tensors:
                for t in tensors:
                    t = t.detach().float()
                    t = t.sum() if t.numel() > 1 else t.reshape(())
                    self._unread_sum = t if self._unread_sum is None \
                        else self._unread_sum + t
                if self._first_unread is None:
                    self._first_unread = runner.iter + 1
            due = (self.every_n_inner_iters(batch_idx, self.interval)
                   or self.end_of_epoch(runner.train_dataloader, batch_idx)
                   or self._iter_checkpoint_due(runner))
            if not due:
                return
            all_finite = self._unread_sum is None or bool(
                torch.isfinite(self._unread_sum))
            if self._first_unread is not None and \
                    self._first_unread < runner.iter + 1:
                where = (f'one of global iters {self._first_unread}-'
                         f'{runner.iter + 1} (read every {self.interval} '
                         'iterations), the last being '
                         f'{self._where(runner, batch_idx)}')
            self._unread_sum, self._first_unread = None, None
            if all_finite:
                losses = {}
        bad = [(k, _value(v)) for k, v in losses.items()
               if not math.isfinite(_value(v))]
        if self.interval > 1 and losses and not bad:
            bad = [('loss (an earlier iteration)', float('nan'))]
        if get_world_size() > 1:
            # Losses differ across ranks: agree, or the healthy ranks would
            # hang in the next collective while one rank raises.
            flag = torch.tensor(float(bool(bad)))
            all_reduce(flag)
            if flag.item() > 0 and not bad:
                bad = [('loss (on another rank)', float('nan'))]
        if bad:
            # Name the individual terms first; 'loss' is only their sum.
            bad.sort(key=lambda kv: kv[0] == 'loss')
            terms = ', '.join(f'{k}={v}' for k, v in bad)
            self._raise(runner, f'loss ({terms})',
                        where or self._where(runner, batch_idx))
        if self.check_weights and self._iter_checkpoint_due(runner):
            self._check_weights(runner, self._where(runner, batch_idx))

    def after_train_epoch(self, runner) -> None:
        # Runs before CheckpointHook.after_train_epoch (lower priority), and
        # the val loop (which may save a "best" checkpoint) comes after it.
        if self.check_weights:
            self._check_weights(runner, self._where(runner))

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if not self.check_weights:
            return
        bad = [k for k, v in checkpoint.get('state_dict', {}).items()
               if torch.is_tensor(v) and v.is_floating_point()
               and not bool(torch.isfinite(v).all())]
        if bad:
            self._raise(runner, f'weights ({len(bad)} tensors, e.g. {bad[0]})',
                        f'epoch {runner.epoch + 1}, iter {runner.iter}')

    @staticmethod
    def _iter_checkpoint_due(runner) -> bool:
        """Whether an iteration-based CheckpointHook saves after this iter."""
        for hook in runner.hooks:
            if isinstance(hook, CheckpointHook) and not hook.by_epoch and (
                    hook.every_n_train_iters(runner, hook.interval,
                                             hook.save_begin) or
                (hook.save_last and hook.is_last_train_iter(runner))):
                return True
        return False

    def _check_weights(self, runner, where: str) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) \
            else runner.model
        for name, param in model.state_dict().items():
            if param.is_floating_point() and \
                    not bool(torch.isfinite(param).all()):
                count = int((~torch.isfinite(param)).sum())
                self._raise(runner, f'weights ({name}: {count} non-finite '
                            'values)', where)
