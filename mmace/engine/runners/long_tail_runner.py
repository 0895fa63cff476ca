import copy
import logging
import os
from typing import List, Optional

import torch
import torch.distributed as torch_dist
from mmengine.config import Config, ConfigDict
from mmengine.logging import print_log
from mmengine.registry import DefaultScope
from mmengine.runner import Runner

from mmpretrain.registry import DATASETS, RUNNERS

from ...models.utils.checks import (check_eq7_schedulers,
                                    check_num_experts_match)
from .reliable_checkpoints import ReliableCheckpointsMixin

#: Placeholder a config writes where the training-set class counts belong.
AUTO = 'auto'
#: Registries (package, registry names) searched for a config type.
COUNT_REGISTRIES = (('mmpretrain', ('MODELS', 'METRICS')),
                    ('mmdet', ('MODELS', 'METRICS')),
                    ('mmseg', ('MODELS', 'METRICS')))


def takes_class_counts(type_) -> bool:
    """Whether a config ``type`` takes training-set counts.

    Such classes say so with a class attribute ``takes_class_counts = True``
    (the ACE heads through ``ExpertCountsMixin``, the long-tail metrics);
    a config that leaves their ``class_counts`` out means ``'auto'``. Found
    through the registries, so a user's own class opts in the same way.
    """
    if isinstance(type_, type):
        return bool(getattr(type_, 'takes_class_counts', False))
    if not isinstance(type_, str):
        return False
    import importlib
    for package, names in COUNT_REGISTRIES:
        try:
            registry_module = importlib.import_module(f'{package}.registry')
        except Exception:  # not installed, or an incompatible mmcv
            continue
        for name in names:
            try:
                cls = getattr(registry_module, name).get(type_)
            except Exception:  # e.g. a scope prefix of another package
                cls = None
            if cls is not None and getattr(cls, 'takes_class_counts', False):
                return True
    return False
#: Where a model keeps the head whose ``num_classes`` must fit the counts.
HEAD_PATHS = ('head', 'roi_head.bbox_head', 'decode_head')


def _find_auto_counts(node, path=''):
    """Yield (container, key, dotted path) of every ``class_counts='auto'``."""
    if isinstance(node, dict):
        if takes_class_counts(node.get('type')):
            node.setdefault('class_counts', AUTO)
        for key, value in node.items():
            sub = f'{path}.{key}' if path else str(key)
            if key == 'class_counts' and isinstance(value, str) \
                    and value == AUTO:
                yield node, key, sub
            else:
                yield from _find_auto_counts(value, sub)
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            yield from _find_auto_counts(value, f'{path}[{i}]')


def fill_auto_class_counts(cfg: Config) -> Optional[List[int]]:
    """Replace every ``class_counts='auto'`` with the training-set counts.

    The counts are computed once, by :func:`mmace.datasets.get_class_counts`
    on ``cfg.train_dataloader.dataset``; the ACE planner, the optimizer
    constructor (through the head) and the metrics then all see the same
    numbers, and nobody types counts into a config. Images per class for
    classification, non-crowd instances per class for detection (images per
    class with the top-level key ``class_count_unit='image'``), pixels per
    class for segmentation.

    Returns:
        list[int] | None: The counts, or None when nothing asked for them.
    """
    from mmace.datasets import get_class_counts

    sections = ('model', 'val_evaluator', 'test_evaluator')
    found = [hit for name in sections if cfg.get(name) is not None
             for hit in _find_auto_counts(cfg[name], name)]
    if not found:
        return None
    paths = ', '.join(path for _, _, path in found)
    dataset_cfg = (cfg.get('train_dataloader') or {}).get('dataset')
    if dataset_cfg is None:
        raise ValueError(
            f'{paths} is "auto", which reads the training-set class counts '
            'from train_dataloader.dataset, but the config has none. Add '
            'train_dataloader.dataset or set class_counts explicitly.')
    scope = cfg.get('default_scope', 'mmpretrain')
    with DefaultScope.overwrite_default_scope(scope):
        dataset = DATASETS.build(copy.deepcopy(dataset_cfg))
    counts = [int(c) for c in get_class_counts(
        dataset, unit=cfg.get('class_count_unit'))]
    for container, key, _ in found:
        container[key] = counts
    if isinstance(cfg, Config) and len(counts) > 100:
        # The Runner dumps the config three times; yapf needs seconds for
        # each of thousands of counts (8142 on iNat), so skip formatting.
        super(Config, cfg).__setattr__('_format_python_code', False)
    print_log(
        f'class_counts for {paths}: {len(counts)} classes, '
        f'{sum(counts)} training samples (from train_dataloader.dataset)',
        logger='current')
    return counts


def check_head_num_classes(cfg: Config, counts: Optional[List[int]]) -> None:
    """Fail early when the head's ``num_classes`` is not the training set's.

    ``ACEHead`` checks this itself; any other head (mmpretrain's
    ``LinearClsHead`` of the CE baselines, mmdet's bbox heads, mmseg's decode
    heads) would meet a label >= ``num_classes`` only in the loss, as
    torch's ``IndexError: Target 5 is out of bounds``. Checked heads:
    ``model.head``, ``model.roi_head.bbox_head`` (each cascade stage) and
    ``model.decode_head``.

    Args:
        cfg (Config): The config, after :func:`fill_auto_class_counts`.
        counts (list[int], optional): The training-set counts it returned.
    """
    if counts is None:
        return
    model = cfg.get('model') or {}
    for path in HEAD_PATHS:
        node = model
        for key in path.split('.'):
            node = node.get(key) if isinstance(node, dict) else None
        # Cascade R-CNN: one bbox head per stage.
        heads = node if isinstance(node, (list, tuple)) else [node]
        for i, head in enumerate(heads):
            num_classes = head.get('num_classes') \
                if isinstance(head, dict) else None
            if not isinstance(num_classes, int) or \
                    isinstance(num_classes, bool) or \
                    num_classes == len(counts):
                continue
            where = f'model.{path}' + (f'[{i}]' if len(heads) > 1 else '')
            raise ValueError(
                f'the training set (train_dataloader.dataset) has '
                f'{len(counts)} classes but the head ({head.get("type")}) '
                f'has {where}.num_classes={num_classes}; make them equal')


def drop_disabled_default_hooks(cfg: Config) -> None:
    """Let ``default_hooks.<name>=None`` switch off mmace's default hooks.

    mmengine accepts None only for its own default hooks (``checkpoint``,
    ``logger``, ...) and fails with a bare ``AssertionError`` for others,
    such as ``non_finite_loss`` and ``rng_state`` of mmace's
    ``default_runtime.py``.

    Args:
        cfg (Config): The config; ``default_hooks`` is changed in place.
    """
    mmengine_own = ('runtime_info', 'timer', 'sampler_seed', 'logger',
                    'param_scheduler', 'checkpoint')
    hooks = cfg.get('default_hooks')
    if isinstance(hooks, dict):
        for name in [k for k, v in hooks.items()
                     if v is None and k not in mmengine_own]:
            hooks.pop(name)


def fall_back_from_amp(cfg: Config) -> None:
    """Train in fp32, with a warning, where AMP has no device to run on.

    mmengine's ``AmpOptimWrapper`` (``--amp``, the ``*_amp.py`` configs)
    needs a GPU (or NPU/MLU/MUSA) and otherwise fails with an assertion.

    Args:
        cfg (Config): The config; ``optim_wrapper`` is changed in place.
    """
    # The very checks AmpOptimWrapper.__init__ asserts.
    from mmengine.optim.optimizer import amp_optimizer_wrapper as amp
    wrapper = cfg.get('optim_wrapper')
    if not isinstance(wrapper, dict) or \
            wrapper.get('type') != 'AmpOptimWrapper' or any(
                f() for f in (amp.is_cuda_available, amp.is_npu_available,
                              amp.is_mlu_available, amp.is_musa_available)):
        return
    wrapper['type'] = 'OptimWrapper'
    for key in ('loss_scale', 'dtype', 'use_fsdp'):
        wrapper.pop(key, None)
    print_log(
        'Mixed precision (--amp / AmpOptimWrapper) needs a GPU; this machine '
        'has none, so training runs in full precision (fp32).',
        logger='current', level=logging.WARNING)


def setup_cpu_distributed(cfg: Config) -> None:
    """Make ``launcher='pytorch'`` work where there is no GPU.

    mmengine 0.10.7 calls ``torch.cuda.set_device`` while initialising the
    process group and wraps DDP with ``device_ids=[local_rank]``; both fail
    on CPU. We start a gloo group ourselves (mmengine skips its own init when
    a group exists) and let DDP run without device ids. GPU runs are left
    untouched.
    """
    if cfg.get('launcher', 'none') == 'none' or torch.cuda.is_available():
        return
    if not torch_dist.is_initialized():
        for var in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'):
            if var not in os.environ:
                raise RuntimeError(
                    f'launcher={cfg.launcher!r} needs ${var}; start the job '
                    'with tools/dist_train.sh (torchrun).')
        torch_dist.init_process_group(backend='gloo')
    cfg.setdefault('env_cfg', ConfigDict())
    cfg.env_cfg.setdefault('dist_cfg', ConfigDict())
    cfg.env_cfg.dist_cfg.backend = 'gloo'
    wrapper = cfg.get('model_wrapper_cfg') or ConfigDict(
        type='MMDistributedDataParallel')
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper


@RUNNERS.register_module()
class LongTailRunner(ReliableCheckpointsMixin, Runner):
    """mmengine ``Runner`` that knows the training set's class counts.

    Set ``runner_type='LongTailRunner'`` in a config (mmace's
    ``configs/_base_/default_runtime.py`` does) and every
    ``class_counts='auto'`` in ``model``, ``val_evaluator`` and
    ``test_evaluator`` is filled from ``train_dataloader.dataset`` before
    anything is built. It also runs ``launcher='pytorch'`` on CPU-only
    machines (gloo), and checks the config before anything is built: all
    of it must happen before the optimizer exists, so it lives here (what
    can wait is in hooks). Checkpoint reading and writing are those of
    :class:`ReliableCheckpointsMixin`; everything else is mmengine's
    ``Runner``.
    """

    @classmethod
    def from_cfg(cls, cfg) -> 'LongTailRunner':
        cfg = copy.deepcopy(cfg)
        check_num_experts_match(cfg.get('model'))
        check_eq7_schedulers(cfg)
        setup_cpu_distributed(cfg)
        drop_disabled_default_hooks(cfg)
        fall_back_from_amp(cfg)
        check_head_num_classes(cfg, fill_auto_class_counts(cfg))
        return super().from_cfg(cfg)
