import random
from typing import Optional

import numpy as np
import torch
from mmengine.dist import all_gather_object, get_rank, get_world_size
from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS


def get_rng_state() -> dict:
    """The Python, numpy, torch (and CUDA) global random states.

    Returns:
        dict: Plain Python/torch objects, loadable with
        ``torch.load(weights_only=True)``.
    """
    _, key, pos, has_gauss, gauss = np.random.get_state()
    state = dict(
        python=random.getstate(),
        numpy=dict(key=key.tolist(), pos=int(pos), has_gauss=int(has_gauss),
                   gauss=float(gauss)),
        torch=torch.get_rng_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore what :func:`get_rng_state` returned.

    Args:
        state (dict): A state from :func:`get_rng_state`.
    """
    version, internal, gauss_next = state['python']
    random.setstate((version, tuple(internal), gauss_next))
    np_state = state['numpy']
    np.random.set_state(
        ('MT19937', np.asarray(np_state['key'], dtype=np.uint32),
         np_state['pos'], np_state['has_gauss'], np_state['gauss']))
    torch.set_rng_state(state['torch'].cpu())
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state['cuda']])


@HOOKS.register_module()
class RNGStateHook(Hook):
    """Make a resumed run replay the random augmentation of the original.

    mmengine seeds the random generators once, at start-up, and its
    checkpoints hold no random state: a resumed run draws different random
    crops, flips and Mixup pairs than the uninterrupted run would have. This
    hook saves the Python, numpy and torch (and CUDA) random states in every
    checkpoint (``checkpoint['rng_state']``, one state per process) and
    restores them when training resumes, so that a resumed run ends
    bit-identical to an uninterrupted one (same machine and thread count).

    Validation during training draws random numbers too (the dataloader
    draws its base seed from torch's generator), after the epoch's
    checkpoint is written. The hook therefore keeps validation out of the
    training stream: the random states are put back when validation ends.
    Consequently ``val_interval`` and ``--no-validate`` do not change the
    trained weights either.

    The sampler's order needs nothing: mmengine's ``DefaultSampler`` shuffles
    with ``seed + epoch``. Dataloader workers are reseeded by mmengine every
    epoch unless ``persistent_workers=True``, whose worker processes keep a
    random state that cannot be saved (the hook warns on resume).

    mmace's ``configs/_base_/default_runtime.py`` has it in
    ``custom_hooks``.
    """

    priority = 'NORMAL'

    def __init__(self) -> None:
        self._resumed_state: Optional[dict] = None
        self._val_state: Optional[dict] = None
        self._gathered = None  # (iter, [state per rank]) in distributed runs

    # --- saving -------------------------------------------------------
    def after_train_epoch(self, runner) -> None:
        # before_save_checkpoint runs on rank 0 only, so all ranks hand over
        # their states here (before CheckpointHook, whose priority is lower).
        if get_world_size() > 1:
            self._gathered = (runner.iter, all_gather_object(get_rng_state()))

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if get_world_size() > 1:
            if self._gathered is None or self._gathered[0] != runner.iter:
                return  # an iteration-based save: no states of all ranks
            states = self._gathered[1]
        else:
            states = [get_rng_state()]
        checkpoint['rng_state'] = dict(world_size=len(states), states=states)

    # --- validation stays out of the training stream --------------------
    def before_val(self, runner) -> None:
        self._val_state = get_rng_state()

    def after_val_epoch(self, runner, metrics=None) -> None:
        # Before CheckpointHook saves the "best" checkpoint (lower priority).
        if self._val_state is not None:
            set_rng_state(self._val_state)
            self._val_state = None

    # --- resuming -------------------------------------------------------
    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        # Only a resumed run continues the stream; load_from (fine-tuning,
        # testing) starts its own. Restored in before_train, after mmengine
        # may have re-seeded (a checkpoint seed differing from the config's).
        if getattr(runner, '_resume', False):
            self._resumed_state = checkpoint.get('rng_state')
            if self._resumed_state is None:
                runner.logger.warning(
                    'The checkpoint holds no random state (saved without '
                    'RNGStateHook): random augmentation after resuming '
                    'differs from an uninterrupted run.')

    def before_train(self, runner) -> None:
        saved, self._resumed_state = self._resumed_state, None
        if saved is None:
            return
        if saved['world_size'] != get_world_size():
            runner.logger.warning(
                f"The checkpoint's random states come from "
                f"{saved['world_size']} processes, this run has "
                f'{get_world_size()}: they are not restored, so random '
                'augmentation differs from an uninterrupted run.')
            return
        set_rng_state(saved['states'][get_rank()])
        loader_cfg = runner.cfg.get('train_dataloader') or {}
        if loader_cfg.get('persistent_workers') and \
                loader_cfg.get('num_workers', 0) > 0:
            runner.logger.warning(
                'Random states restored, but train_dataloader uses '
                'persistent_workers=True: the workers\' own random state is '
                'not in checkpoints, so their augmentation differs from an '
                'uninterrupted run.')
        else:
            runner.logger.info('Random states restored from the checkpoint.')
