"""Turn a small-image training config into its GPU fast path.

For 32x32 images on a GPU a ResNet-32 step takes a few milliseconds, and
what bounds training is no longer the network: per-sample Python
transforms in the dataloader, a host-device synchronisation for every loss
term of every iteration (mmengine's ``RuntimeInfoHook`` and a per-iteration
finiteness check), and full-precision NCHW kernels. :func:`fast_path_config`
rewrites a config (in memory; nothing about the method changes):

- ``RandomCrop(padding=p)`` and a horizontal ``RandomFlip`` leave the
  training pipeline and run on the stacked batch on the device
  (:class:`~mmace.models.utils.BatchCropFlipDataPreprocessor`); the
  dataloaders stack with ``default_collate`` and keep their workers;
- loss terms reach the message hub in one transfer per logging interval
  (:class:`~mmace.engine.hooks.BufferedRuntimeInfoHook`), and
  ``NonFiniteLossHook`` reads its on-device flag at the same interval;
- optionally bf16 autocast without a loss scaler (``amp``) and
  channels_last on CUDA too.

CIFAR-folder datasets are already decoded once into memory
(:mod:`mmace.datasets.decoded_cache`).
"""
import copy
from typing import Optional

import torch
from mmengine.config import Config, ConfigDict

#: Pipeline steps that are moved to the device, by type.
_CROP, _FLIP = 'RandomCrop', 'RandomFlip'


def innermost_dataset(dataset_cfg: dict) -> dict:
    """The dataset config that holds the pipeline (through wrappers such as
    ``LongTailDataset`` that keep the real one under ``dataset``)."""
    while 'pipeline' not in dataset_cfg and 'dataset' in dataset_cfg:
        dataset_cfg = dataset_cfg['dataset']
    return dataset_cfg


def move_crop_flip_to_device(cfg: Config) -> bool:
    """Move the training pipeline's padded random crop and horizontal flip
    into a :class:`BatchCropFlipDataPreprocessor`. Returns whether the
    pipeline had them (a config without them is left as it is)."""
    dataset = innermost_dataset(cfg.train_dataloader.dataset)
    pipeline = list(dataset.get('pipeline', []))
    crop = [t for t in pipeline if t.get('type') == _CROP]
    flip = [t for t in pipeline if t.get('type') == _FLIP]
    if len(crop) != 1 or not crop[0].get('padding'):
        return False
    pad = crop[0]['padding']
    if not isinstance(pad, int) or crop[0].get('pad_val', 0) != 0 \
            or crop[0].get('padding_mode', 'constant') != 'constant':
        return False
    if flip and (len(flip) > 1 or flip[0].get('direction', 'horizontal')
                 != 'horizontal'):
        return False
    flip_prob = flip[0].get('prob', 0.5) if flip else 0.
    dataset['pipeline'] = [t for t in pipeline if t not in crop + flip]
    preprocessor = cfg.get('model', {}).get('data_preprocessor') \
        or cfg.get('data_preprocessor') or {}
    preprocessor = dict(preprocessor)
    preprocessor.update(type='BatchCropFlipDataPreprocessor',
                        crop_padding=pad, flip_prob=flip_prob)
    cfg.data_preprocessor = ConfigDict(preprocessor)
    if cfg.get('model', {}).get('data_preprocessor') is not None:
        cfg.model.data_preprocessor = ConfigDict(preprocessor)
    return True


def set_amp(cfg: Config, amp: Optional[str]) -> None:
    """Mixed precision in place: ``'bf16'`` (``BF16OptimWrapper``, no loss
    scaler), ``'fp16'`` (mmengine's ``AmpOptimWrapper``, a dynamic loss
    scale unless the config sets one) or None (unchanged)."""
    if amp not in (None, 'bf16', 'fp16'):
        raise ValueError(f"amp must be None, 'bf16' or 'fp16', got {amp!r}")
    if amp == 'bf16':
        # No GradScaler: bf16 has fp32's range, and the scaler's inf check
        # would synchronise every step.
        cfg.optim_wrapper.type = 'BF16OptimWrapper'
    elif amp == 'fp16':
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')


def set_channels_last(cfg: Config) -> None:
    """``ChannelsLastHook`` on CUDA too (it defaults to CPU only)."""
    cfg.setdefault('default_hooks', ConfigDict())
    cfg.default_hooks.channels_last = dict(type='ChannelsLastHook',
                                           devices=('cpu', 'cuda'))


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
    hooks = cfg.setdefault('default_hooks', ConfigDict())
    hooks.runtime_info = dict(type='BufferedRuntimeInfoHook')
    if hooks.get('non_finite_loss'):
        logger = hooks.get('logger') or {}
        hooks.non_finite_loss.interval = logger.get('interval', 10)
    if channels_last:
        set_channels_last(cfg)
    return cfg
