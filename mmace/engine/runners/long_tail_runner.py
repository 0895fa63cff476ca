import copy
import os

import torch
import torch.distributed as torch_dist
from mmengine.config import Config, ConfigDict
from mmengine.logging import print_log
from mmengine.registry import DefaultScope
from mmengine.runner import Runner

from mmpretrain.registry import DATASETS, RUNNERS

from ...models.utils.checks import check_num_experts_match

#: Placeholder a config writes where the training-set class counts belong.
AUTO = 'auto'
#: Types that take training-set counts; a config that leaves their
#: ``class_counts`` out means 'auto' too.
COUNT_CONSUMERS = ('LongTailAccuracy', 'ACEHead')


def _find_auto_counts(node, path=''):
    """Yield (container, key, dotted path) of every ``class_counts='auto'``."""
    if isinstance(node, dict):
        if node.get('type') in COUNT_CONSUMERS:
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


def fill_auto_class_counts(cfg: Config) -> None:
    """Replace every ``class_counts='auto'`` with the training-set counts.

    The counts are computed once, by :func:`mmace.datasets.get_class_counts`
    on ``cfg.train_dataloader.dataset``; the ACE planner, the optimizer
    constructor (through the head) and ``LongTailAccuracy`` then all see the
    same numbers, and nobody types counts into a config.
    """
    from mmace.datasets import get_class_counts

    sections = ('model', 'val_evaluator', 'test_evaluator')
    found = [hit for name in sections if cfg.get(name) is not None
             for hit in _find_auto_counts(cfg[name], name)]
    if not found:
        return
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
    counts = [int(c) for c in get_class_counts(dataset)]
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
class LongTailRunner(Runner):
    """mmengine ``Runner`` that knows the training set's class counts.

    Set ``runner_type='LongTailRunner'`` in a config (mmace's
    ``configs/_base_/default_runtime.py`` does) and every
    ``class_counts='auto'`` in ``model``, ``val_evaluator`` and
    ``test_evaluator`` is filled from ``train_dataloader.dataset`` before
    anything is built. It also runs ``launcher='pytorch'`` on CPU-only
    machines (gloo). Everything else is mmengine's ``Runner``.
    """

    @classmethod
    def from_cfg(cls, cfg) -> 'LongTailRunner':
        cfg = copy.deepcopy(cfg)
        check_num_experts_match(cfg.get('model'))
        setup_cpu_distributed(cfg)
        fill_auto_class_counts(cfg)
        return super().from_cfg(cfg)
