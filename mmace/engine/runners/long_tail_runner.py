import copy
import importlib
import importlib.util
import logging
import os
from typing import List, Optional

import torch
import torch.distributed as torch_dist
from mmengine.config import Config, ConfigDict
from mmengine.dataset import BaseDataset
from mmengine.logging import print_log
from mmengine.registry import DefaultScope
from mmengine.runner import Runner

from mmpretrain.registry import DATASETS, RUNNERS

from ...models.utils.checks import (check_eq7_schedulers,
                                    check_num_experts_match)
from ...utils.checkpoint_io import read_checkpoint, recorded_class_counts
from ...utils.errors import ConfigError
from .compile import compile_model_parts, compile_options
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
    (the ACE heads through ``ACEHeadMixin``, the long-tail metrics);
    a config that leaves their ``class_counts`` out means ``'auto'``. Found
    through the registries, so a user's own class opts in the same way.
    """
    if isinstance(type_, type):
        return bool(getattr(type_, 'takes_class_counts', False))
    if not isinstance(type_, str) or not type_:
        return False
    for package, names in COUNT_REGISTRIES:
        # mmdet and mmseg are optional; `import mmace` has already imported
        # those that are installed.
        if importlib.util.find_spec(package) is None:
            continue
        registry_module = importlib.import_module(f'{package}.registry')
        for name in names:
            # Registry.get returns None for unknown names and for scope
            # prefixes it does not know.
            cls = getattr(registry_module, name).get(type_)
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


def fill_auto_class_counts(cfg: Config,
                           checkpoint: Optional[dict] = None
                           ) -> Optional[List[int]]:
    """Replace every ``class_counts='auto'`` with the training-set counts.

    The counts have one source, so the ACE planner, the optimizer
    constructor (through the head) and the metrics all see the same numbers
    and nobody types counts into a config:

    - Training (the config has ``train_dataloader``): the training dataset
      is built once and :func:`mmace.datasets.get_class_counts` counts it
      (images per class for classification, non-crowd instances per class
      for detection, images per class with the top-level key
      ``class_count_unit='image'``, pixels per class for segmentation). The
      counts are recorded in the dataset's metainfo
      (:func:`record_class_counts`), which mmengine saves in every
      checkpoint as ``meta['dataset_meta']``.
    - Testing (no ``train_dataloader``, as ``tools/test.py`` runs): the
      counts the checkpoint in ``load_from`` recorded. Nothing is counted
      and the training set is not needed.

    Args:
        cfg (Config): The config; changed in place.
        checkpoint (dict, optional): ``load_from`` already read, when
            testing. Defaults to None, which reads it if needed.

    Returns:
        list[int] | None: The counts, or None when nothing asked for them.
    """
    sections = ('model', 'val_evaluator', 'test_evaluator')
    found = [hit for name in sections if cfg.get(name) is not None
             for hit in _find_auto_counts(cfg[name], name)]
    if not found:
        return None
    paths = ', '.join(path for _, _, path in found)
    dataset_cfg = (cfg.get('train_dataloader') or {}).get('dataset')
    load_from = cfg.get('load_from')
    if dataset_cfg is not None:
        counts = count_training_set(cfg)
        source = 'train_dataloader.dataset'
    elif load_from:
        if checkpoint is None:
            checkpoint = read_checkpoint(load_from)
        counts = recorded_class_counts(checkpoint, load_from)
        source = f'recorded in {load_from}'
    else:
        raise ConfigError(
            f'{paths} is "auto": the training-set class counts, counted on '
            'train_dataloader.dataset when training and read from the '
            'checkpoint in load_from (its meta["dataset_meta"]'
            '["class_counts"]) when testing, but the config has neither. '
            'Add one, or set class_counts explicitly.')
    for container, key, _ in found:
        container[key] = counts
    if isinstance(cfg, Config) and len(counts) > 100:
        # The Runner dumps the config three times; yapf needs seconds for
        # each of thousands of counts (8142 on iNat), so skip formatting.
        super(Config, cfg).__setattr__('_format_python_code', False)
    print_log(
        f'class_counts for {paths}: {len(counts)} classes, '
        f'{sum(counts)} training samples ({source})',
        logger='current')
    return counts


def count_training_set(cfg: Config) -> List[int]:
    """Count ``cfg.train_dataloader.dataset`` once and record the counts.

    Args:
        cfg (Config): The config; the dataset config is changed in place
            (see :func:`record_class_counts`).

    Returns:
        list[int]: The counts of :func:`mmace.datasets.get_class_counts`.
    """
    from mmace.datasets import get_class_counts

    dataset_cfg = cfg.train_dataloader.dataset
    scope = cfg.get('default_scope', 'mmpretrain')
    with DefaultScope.overwrite_default_scope(scope):
        dataset = DATASETS.build(copy.deepcopy(dataset_cfg))
    counts = [int(c) for c in get_class_counts(
        dataset, unit=cfg.get('class_count_unit'))]
    if not record_class_counts(dataset_cfg, dataset, counts):
        print_log(
            f'{type(dataset).__name__} (train_dataloader.dataset) has no '
            "metainfo that can hold 'class_counts', so its checkpoints will "
            'not record them; testing them needs explicit class_counts.',
            logger='current', level=logging.WARNING)
    return counts


def record_class_counts(dataset_cfg: dict, dataset, counts: List[int]) -> bool:
    """Make ``class_counts`` part of a training dataset's metainfo.

    mmengine saves the training set's metainfo in every checkpoint
    (``meta['dataset_meta']``); that is where testing reads the counts.
    :class:`~mmace.datasets.LongTailDataset` and
    :class:`~mmace.datasets.LTListDataset` put them there themselves; for
    any other mmengine ``BaseDataset`` (mmdet's COCO, mmseg's datasets,
    mmpretrain's) they are added to its ``metainfo`` argument, and dataset
    wrappers with one ``dataset`` pass it on to that.

    Args:
        dataset_cfg (dict): The dataset's config; changed in place.
        dataset: The dataset built from it.
        counts (list[int]): The counts to record.

    Returns:
        bool: Whether the dataset's metainfo now holds the counts.
    """
    metainfo = getattr(dataset, 'metainfo', None)
    if not isinstance(metainfo, dict):
        return False
    if 'class_counts' in metainfo:
        return True
    if isinstance(dataset, BaseDataset):
        dataset_cfg['metainfo'] = dict(
            dataset_cfg.get('metainfo') or {}, class_counts=counts)
        return True
    inner_cfg = dataset_cfg.get('dataset')
    inner = getattr(dataset, 'dataset', None)
    return isinstance(inner_cfg, dict) and inner is not None and \
        record_class_counts(inner_cfg, inner, counts)


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
                f'the training-set class counts have {len(counts)} '
                f'classes but the head ({head.get("type")}) '
                f'has {where}.num_classes={num_classes}; make them equal')


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
    ``test_evaluator`` is filled before anything is built: from
    ``train_dataloader.dataset`` when training, from the checkpoint in
    ``load_from`` when the config has no ``train_dataloader`` (testing;
    :func:`fill_auto_class_counts`). It also runs ``launcher='pytorch'`` on
    CPU-only machines (gloo), and checks the config before anything is
    built: all of it must happen before the optimizer exists, so it lives
    here (what can wait is in hooks). A config's ``compile`` compiles the
    model's tensor parts (:mod:`mmace.engine.runners.compile`) instead of
    mmengine's whole ``train_step``. Checkpoint reading and writing are
    those of :class:`ReliableCheckpointsMixin`; everything else is
    mmengine's ``Runner``.
    """

    @classmethod
    def from_cfg(cls, cfg) -> 'LongTailRunner':
        cfg = copy.deepcopy(cfg)
        check_num_experts_match(cfg.get('model'))
        check_eq7_schedulers(cfg)
        compile_options(cfg.get('compile'))  # refused before any work
        setup_cpu_distributed(cfg)
        fall_back_from_amp(cfg)
        checkpoint = None
        if cfg.get('train_dataloader') is None and cfg.get('load_from'):
            # Testing: the checkpoint is read once, here, for the class
            # counts it recorded, and loaded from memory later.
            checkpoint = read_checkpoint(cfg.load_from)
        check_head_num_classes(cfg, fill_auto_class_counts(cfg, checkpoint))
        runner = super().from_cfg(cfg)
        if checkpoint is not None:
            runner._preloaded = (cfg.load_from, checkpoint)
        return runner

    def _maybe_compile(self, target: str) -> None:
        """Compile the model's backbone, neck and head loss module where the
        config sets ``compile`` (mmengine calls this for ``train_step``,
        after wrapping the model)."""
        options = compile_options(self.cfg.get('compile'))
        if options is None:
            return
        parts = compile_model_parts(self.model, options)
        args = ', '.join(f'{k}={v!r}' for k, v in options.items())
        self.logger.info(
            f'torch.compile({args}) on model.{", model.".join(parts)}, for '
            f'{target}; the first iterations (and the first validation) '
            'compile')
