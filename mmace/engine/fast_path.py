"""Turn a small-image training config into its GPU fast path.

For 32x32 images on a GPU a ResNet-32 step takes a few milliseconds, and
what bounds training is no longer the network: per-sample Python
transforms in the dataloader, a host-device synchronisation for every loss
term of every iteration (mmengine's ``RuntimeInfoHook`` and a per-iteration
finiteness check), blocking copies of the batch, and full-precision NCHW
kernels. :func:`fast_path_config` rewrites a config (in memory; the
training recipe is kept):

- ``RandomCrop`` and ``RandomFlip`` at the end of the training pipeline
  (only ``PackInputs`` after them) leave it and run on the stacked batch on
  the device, with their own options (crop size, padding, pad value, flip
  probability and direction)
  (:class:`~mmace.models.utils.BatchCropFlipDataPreprocessor`, which also
  copies the batch to the device without waiting); what it cannot move in
  the same order is refused with a :class:`~mmace.utils.errors.ConfigError`
  naming the transform; the dataloaders stack with ``default_collate`` and
  keep their workers;
- loss terms reach the message hub in one transfer per logging interval
  (:class:`~mmace.engine.hooks.BufferedRuntimeInfoHook`, in place of
  mmengine's ``default_hooks.runtime_info``), and the ``NonFiniteLossHook``
  of ``custom_hooks`` reads its on-device flag at the same interval;
- ``fused=True`` for an ``SGD`` / ``Adam`` / ``AdamW`` optimizer that does
  not choose its implementation already, and ``env_cfg.cudnn_benchmark``;
- optionally bf16 autocast without a loss scaler (``amp``) and
  channels_last on CUDA too.

CIFAR-folder datasets are already decoded once into memory
(:mod:`mmace.datasets.decoded_cache`).
"""
import copy
from typing import Optional

import torch
from mmengine.config import Config, ConfigDict

from mmace.utils.errors import ConfigError

#: Pipeline steps that are moved to the device, by type.
_CROP, _FLIP = 'RandomCrop', 'RandomFlip'
#: What may follow them in the pipeline (it only packs the arrays).
_PACK = 'PackInputs'
#: Data preprocessors whose options the moved steps can extend.
_PREPROCESSORS = (None, 'ClsDataPreprocessor', 'BatchCropFlipDataPreprocessor')
#: Optimizers with a fused (one kernel for every parameter) implementation.
_FUSED = ('SGD', 'Adam', 'AdamW')
#: ``AmpOptimWrapper``'s own arguments (no meaning for the bf16 wrapper).
_AMP_ONLY = ('loss_scale', 'dtype', 'use_fsdp')


def innermost_dataset(dataset_cfg: dict) -> dict:
    """The dataset config that holds the pipeline (through wrappers such as
    ``LongTailDataset`` that keep the real one under ``dataset``)."""
    while 'pipeline' not in dataset_cfg and 'dataset' in dataset_cfg:
        dataset_cfg = dataset_cfg['dataset']
    return dataset_cfg


def _refuse(transform: dict, why: str) -> None:
    raise ConfigError(
        f'--fast-path cannot move {transform.get("type")} ({dict(transform)})'
        f' of train_dataloader\'s pipeline to the device: {why}. Train '
        'without --fast-path, or change the pipeline.')


def _crop_options(crop: dict) -> dict:
    """``BatchCropFlipDataPreprocessor`` options of a ``RandomCrop``."""
    known = {'type', 'crop_size', 'padding', 'pad_if_needed', 'pad_val',
             'padding_mode'}
    if set(crop) - known:
        _refuse(crop, f'unknown options {sorted(set(crop) - known)}')
    if crop.get('pad_if_needed', False):
        _refuse(crop, 'pad_if_needed=True is not supported')
    # RandomCrop pads `padding` with pad_val always (padding_mode only
    # applies to pad_if_needed), so padding_mode has nothing to change.
    if crop.get('crop_size') is None:
        _refuse(crop, 'it has no crop_size')
    return dict(crop_size=crop['crop_size'],
                crop_padding=crop.get('padding') or 0,
                pad_val=crop.get('pad_val', 0))


def _flip_options(flip: dict) -> dict:
    """``BatchCropFlipDataPreprocessor`` options of a ``RandomFlip``."""
    known = {'type', 'prob', 'direction'}
    if set(flip) - known:
        _refuse(flip, f'unknown options {sorted(set(flip) - known)}')
    prob, direction = flip.get('prob'), flip.get('direction', 'horizontal')
    if not isinstance(direction, str) or not isinstance(prob, (int, float)):
        _refuse(flip, 'only one direction with one probability is supported')
    return dict(flip_prob=prob, flip_direction=direction)


def move_crop_flip_to_device(cfg: Config) -> bool:
    """Move the training pipeline's ``RandomCrop`` and ``RandomFlip`` into
    a :class:`BatchCropFlipDataPreprocessor` with the same options.

    They move only from the end of the pipeline (crop before flip, then at
    most ``PackInputs``), where moving them keeps the order in which the
    transforms run; anything else is refused with a ``ConfigError`` naming
    the transform. Returns whether the pipeline had either (a pipeline
    without them is left as it is).
    """
    dataset = innermost_dataset(cfg.train_dataloader.dataset)
    pipeline = list(dataset.get('pipeline', []))
    types = [t.get('type') for t in pipeline]
    moved = [i for i, t in enumerate(types) if t in (_CROP, _FLIP)]
    if not moved:
        return False
    for i in moved:
        if types.count(types[i]) > 1:
            _refuse(pipeline[i], f'the pipeline has {types.count(types[i])}')
    first = moved[0]
    for i in range(first, len(pipeline)):
        if i in moved:
            continue
        if types[i] != _PACK or i != len(pipeline) - 1:
            _refuse(pipeline[first],
                    f'{types[i]} (pipeline step {i}) runs after it, and '
                    'moving it would run it before')
    if types[first] == _FLIP and _CROP in types:
        _refuse(pipeline[first], f'it runs before {_CROP}, and the device '
                'step crops first')
    options = dict(crop_padding=0, crop_size=None, flip_prob=0.)
    for i in moved:
        options.update(_crop_options(pipeline[i]) if types[i] == _CROP else
                       _flip_options(pipeline[i]))
    preprocessor = dict(cfg.get('model', {}).get('data_preprocessor')
                        or cfg.get('data_preprocessor') or {})
    if preprocessor.get('type') not in _PREPROCESSORS:
        raise ConfigError(
            f'--fast-path moves {_CROP}/{_FLIP} into a '
            'BatchCropFlipDataPreprocessor, but the config\'s data_'
            f'preprocessor is {preprocessor.get("type")}. Train without '
            '--fast-path.')
    preprocessor.update(type='BatchCropFlipDataPreprocessor', **options)
    dataset['pipeline'] = [t for i, t in enumerate(pipeline)
                           if i not in moved]
    cfg.data_preprocessor = ConfigDict(preprocessor)
    if cfg.get('model', {}).get('data_preprocessor') is not None:
        cfg.model.data_preprocessor = ConfigDict(preprocessor)
    return True


def set_amp(cfg: Config, amp: Optional[str]) -> None:
    """Mixed precision in place: ``'bf16'`` (``BF16OptimWrapper``, no loss
    scaler; the ``AmpOptimWrapper`` arguments of an ``*_amp.py`` config,
    such as ``loss_scale``, are dropped with it), ``'fp16'`` (mmengine's
    ``AmpOptimWrapper``, a dynamic loss scale unless the config sets one)
    or None (unchanged)."""
    if amp not in (None, 'bf16', 'fp16'):
        raise ValueError(f"amp must be None, 'bf16' or 'fp16', got {amp!r}")
    if amp == 'bf16':
        # No GradScaler: bf16 has fp32's range, and the scaler's inf check
        # would synchronise every step.
        cfg.optim_wrapper.type = 'BF16OptimWrapper'
        for key in _AMP_ONLY:
            cfg.optim_wrapper.pop(key, None)
    elif amp == 'fp16':
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')


def set_compile(cfg: Config, mode: Optional[str] = None) -> None:
    """``cfg.compile`` on, in place, with ``mode`` (torch.compile's) if
    given; other ``compile`` options the config has are kept."""
    options = cfg.get('compile')
    options = dict(options) if isinstance(options, dict) else {}
    if mode is not None:
        options['mode'] = mode
    cfg.compile = options


def custom_hooks_of(cfg: Config, hook_type: str) -> list:
    """The hook configs of type ``hook_type`` in ``cfg.custom_hooks``."""
    return [h for h in cfg.get('custom_hooks') or ()
            if h.get('type') == hook_type]


def set_channels_last(cfg: Config) -> None:
    """The ``ChannelsLastHook`` of ``custom_hooks`` on CUDA too (it
    defaults to CPU only); one is added if the config has none."""
    hooks = custom_hooks_of(cfg, 'ChannelsLastHook')
    if not hooks:
        cfg.custom_hooks = list(cfg.get('custom_hooks') or []) + [
            dict(type='ChannelsLastHook')]
        hooks = custom_hooks_of(cfg, 'ChannelsLastHook')
    for hook in hooks:
        hook['devices'] = ('cpu', 'cuda')


def set_fused_optimizer(cfg: Config) -> bool:
    """``fused=True`` for an ``SGD`` / ``Adam`` / ``AdamW`` optimizer: one
    kernel updates every parameter instead of a few per parameter group.
    An optimizer config that sets ``fused`` or ``foreach`` itself is left
    as it is. Returns whether it was set."""
    optimizer = cfg.get('optim_wrapper', {}).get('optimizer')
    if not optimizer or optimizer.get('type') not in _FUSED or \
            'fused' in optimizer or 'foreach' in optimizer:
        return False
    optimizer.fused = True
    return True


def fast_path_config(cfg: Config,
                     amp: Optional[str] = None,
                     channels_last: bool = False) -> Config:
    """A copy of ``cfg`` with the fast path (see the module docstring).

    Args:
        cfg (Config): A training config.
        amp (str, optional): Mixed precision: ``'bf16'``
            (:class:`~mmace.engine.optimizers.BF16OptimWrapper`) or
            ``'fp16'`` (mmengine's ``AmpOptimWrapper``, dynamic loss
            scale); None keeps fp32. Defaults to None.
        channels_last (bool): Run channels_last on CUDA too
            (``ChannelsLastHook``). Defaults to False.

    Returns:
        Config: The rewritten copy.
    """
    cfg = copy.deepcopy(cfg)
    set_amp(cfg, amp)
    move_crop_flip_to_device(cfg)
    for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(name)
        if not loader:
            continue
        loader.collate_fn = dict(type='default_collate')
        loader.persistent_workers = loader.get('num_workers', 0) > 0
        loader.pin_memory = torch.cuda.is_available()
    # It replaces mmengine's RuntimeInfoHook (that one reads every term on
    # the host every iteration), so it takes that hook's default_hooks key.
    hooks = cfg.setdefault('default_hooks', ConfigDict())
    hooks.runtime_info = dict(type='BufferedRuntimeInfoHook')
    logger = hooks.get('logger') or {}
    for hook in custom_hooks_of(cfg, 'NonFiniteLossHook'):
        hook['interval'] = logger.get('interval', 10)
    set_fused_optimizer(cfg)
    cfg.setdefault('env_cfg', ConfigDict())
    cfg.env_cfg.cudnn_benchmark = True
    if channels_last:
        set_channels_last(cfg)
    return cfg
