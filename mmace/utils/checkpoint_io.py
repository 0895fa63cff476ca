"""Reading, checking and atomically writing checkpoints, with clear errors.

mmengine 0.10.7 reports a corrupt checkpoint with torch's
``PytorchStreamReader failed reading zip archive`` (or a bare ``EOFError``),
loads a checkpoint of a different model with only a warning, and writes a
checkpoint in place, so a process killed while saving leaves a half-written
``epoch_N.pth``. :class:`mmace.engine.LongTailRunner` uses these helpers to
name the file, refuse mismatched weights and write through a temporary file.
"""
import os
import os.path as osp
import re
from typing import Callable, List, Optional, Tuple, Union

import torch
from mmengine.runner.checkpoint import _load_checkpoint

from .errors import CheckpointError

#: File names CheckpointHook writes by default (``filename_tmpl``).
_CKPT_NAME = re.compile(r'^(epoch|iter)_(\d+)\.pth$')
#: How many keys of each kind a mismatch message shows.
_SHOW = 3


def read_checkpoint(filename: str,
                    map_location: Union[str, Callable, None] = 'cpu'
                    ) -> dict:
    """Load a checkpoint, naming the file when it cannot be read.

    Args:
        filename (str): Local path or any URI mmengine's loaders accept.
        map_location (str | Callable, optional): As in :func:`torch.load`.
            Defaults to 'cpu'.

    Returns:
        dict: The checkpoint.

    Raises:
        CheckpointError: The file is missing, empty, truncated or not a
            checkpoint (a dict).
    """
    is_local = '://' not in str(filename)
    if is_local and not osp.isfile(filename):
        raise CheckpointError(f'checkpoint {filename!r} does not exist')
    if is_local and osp.getsize(filename) == 0:
        raise CheckpointError(
            f'{filename!r} is not a readable checkpoint: the file is empty')
    try:
        checkpoint = _load_checkpoint(filename, map_location=map_location)
    except Exception as e:  # torch raises RuntimeError/EOFError/OSError/...
        # torch's first sentence says what failed; the rest is advice.
        reason = (str(e).strip().splitlines() or [''])[0].split('. ')[0]
        hint = ('truncated (e.g. a run killed while saving) or not a '
                'PyTorch checkpoint')
        if 'weights_only' in str(e) or 'Unsupported global' in str(e):
            hint = ('it holds objects that torch.load(weights_only=True) '
                    'refuses; load it only if you trust it')
        raise CheckpointError(
            f'{filename!r} is not a readable checkpoint ({hint}; '
            f'{type(e).__name__}: {reason[:200]})') from None
    if not isinstance(checkpoint, dict):
        raise CheckpointError(
            f'{filename!r} is not a readable checkpoint: it holds a '
            f'{type(checkpoint).__name__}, not a dict of weights')
    return checkpoint


def recorded_class_counts(checkpoint: dict, filename: str) -> List[int]:
    """The training-set class counts a checkpoint recorded.

    mmengine saves the training dataset's metainfo in every checkpoint
    (``meta['dataset_meta']``); :class:`mmace.engine.LongTailRunner` makes
    sure it holds ``class_counts``.

    Args:
        checkpoint (dict): The checkpoint, as :func:`read_checkpoint` gives.
        filename (str): Its file, named in the error.

    Returns:
        list[int]: The counts in class-index order.

    Raises:
        CheckpointError: The checkpoint recorded no counts.
    """
    meta = checkpoint.get('meta') or {}
    counts = (meta.get('dataset_meta') or {}).get('class_counts')
    if counts is None:
        raise CheckpointError(
            f'{filename!r} records no training class counts '
            "(meta['dataset_meta']['class_counts'], written by "
            "runner_type='LongTailRunner' when training), which "
            "class_counts='auto' reads when testing; give the counts "
            'explicitly, e.g. --cfg-options '
            'test_evaluator.class_counts="[n_0, n_1, ...]"')
    return [int(c) for c in counts]


def _state_dict_of(checkpoint: dict, revise_keys) -> dict:
    """The weights of ``checkpoint`` with keys revised as mmengine does."""
    state_dict = checkpoint.get('state_dict', checkpoint)
    for pattern, replacement in revise_keys or ():
        state_dict = {
            re.sub(pattern, replacement, k): v
            for k, v in state_dict.items()
        }
    return state_dict


def state_dict_mismatch(model: torch.nn.Module,
                        checkpoint: dict,
                        revise_keys=((r'^module\.', ''), )
                        ) -> Tuple[List[str], List[str], List[tuple]]:
    """Compare a checkpoint's weights with a model's.

    Args:
        model (torch.nn.Module): The model (unwrapped).
        checkpoint (dict): A checkpoint (``state_dict`` key) or bare weights.
        revise_keys (Sequence[tuple]): ``(pattern, replacement)`` applied to
            the checkpoint's keys, as in ``Runner.load_checkpoint``.

    Returns:
        tuple: ``(missing, unexpected, shape_mismatches)``; the last holds
        ``(key, checkpoint_shape, model_shape)``. BatchNorm's
        ``num_batches_tracked`` is ignored, as mmengine does.
    """
    ckpt = _state_dict_of(checkpoint, revise_keys)
    own = model.state_dict()
    missing = [
        k for k in own if k not in ckpt and 'num_batches_tracked' not in k
    ]
    unexpected = [
        k for k in ckpt if k not in own and 'num_batches_tracked' not in k
    ]
    shapes = [(k, tuple(ckpt[k].shape), tuple(own[k].shape)) for k in own
              if k in ckpt and hasattr(ckpt[k], 'shape')
              and tuple(ckpt[k].shape) != tuple(own[k].shape)]
    return missing, unexpected, shapes


def describe_mismatch(missing, unexpected, shapes) -> str:
    """One line: counts and the first few keys of each kind."""

    def first(keys):
        more = f', ... ({len(keys) - _SHOW} more)' if len(keys) > _SHOW \
            else ''
        return ', '.join(keys[:_SHOW]) + more

    def count(items, one, many):
        return f'{len(items)} {one if len(items) == 1 else many}'

    parts = []
    if missing:
        parts.append(f'{count(missing, "missing key", "missing keys")} '
                     f'({first(missing)})')
    if unexpected:
        parts.append(
            f'{count(unexpected, "unexpected key", "unexpected keys")} '
            f'({first(unexpected)})')
    if shapes:
        parts.append(
            f'{count(shapes, "shape mismatch", "shape mismatches")} (' +
            first([f'{k}: checkpoint {list(c)} vs model {list(m)}'
                   for k, c, m in shapes]) + ')')
    return '; '.join(parts)


def checkpoint_candidates(work_dir: str) -> List[str]:
    """Checkpoints to auto-resume from, newest first.

    The file named in ``work_dir/last_checkpoint`` comes first, then every
    ``epoch_N.pth`` / ``iter_N.pth`` in ``work_dir`` by decreasing ``N``
    (``best_*.pth`` files hold no optimizer state, so they are not
    candidates).

    Args:
        work_dir (str): The work directory.

    Returns:
        list[str]: Paths, without duplicates.
    """
    found = []
    last = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(last):
        with open(last) as f:
            name = f.read().strip()
        if name:
            found.append(name)
    if osp.isdir(work_dir):
        numbered = []
        for name in os.listdir(work_dir):
            match = _CKPT_NAME.match(name)
            if match:
                numbered.append((match.group(1) == 'iter', int(
                    match.group(2)), osp.join(work_dir, name)))
        found += [path for *_, path in sorted(numbered, reverse=True)]
    unique = []
    for path in found:
        if not any(osp.abspath(path) == osp.abspath(u) for u in unique):
            unique.append(path)
    return unique


def find_readable_checkpoint(work_dir: str, map_location='cpu'
                             ) -> Tuple[Optional[str], Optional[dict],
                                        List[Tuple[str, str]]]:
    """The newest checkpoint in ``work_dir`` that can be read.

    Args:
        work_dir (str): The work directory.
        map_location: As in :func:`torch.load`. Defaults to 'cpu'.

    Returns:
        tuple: ``(path, checkpoint, skipped)``: the checkpoint (``None`` when
        there is none) and ``(path, reason)`` for every newer one that could
        not be read.
    """
    skipped = []
    for path in checkpoint_candidates(work_dir):
        try:
            return path, read_checkpoint(path, map_location), skipped
        except CheckpointError as e:
            skipped.append((path, str(e)))
    return None, None, skipped


def replace_atomically(tmp_path: str, path: str) -> None:
    """Flush ``tmp_path`` to disk, then rename it to ``path`` in one step.

    ``os.replace`` is atomic on POSIX and Windows: ``path`` is either the old
    file or the complete new one, never a half-written file.

    Args:
        tmp_path (str): The complete temporary file.
        path (str): Its final name.
    """
    with open(tmp_path, 'rb+') as f:
        os.fsync(f.fileno())
    os.replace(tmp_path, path)
