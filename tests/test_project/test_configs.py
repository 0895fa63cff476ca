"""Dry build of every config under ``configs/`` (``_base_/`` excluded).

The mmdet / mmseg configs (``configs/det``, ``configs/seg``) are checked by
``test_dense_configs.py`` and under ``tests/test_det`` and ``tests/test_seg``.

Each config is loaded with ``Config.fromfile``, its datasets are pointed at
small generated data, and a ``LongTailRunner`` is built from it the way
``tools/train.py`` does (``RUNNERS.build(cfg)``, which fills every
``class_counts='auto'``). Then the pieces ``Runner.train()`` builds are built
in the same order: train loop (and dataloader), optim wrapper, lr scaling,
param schedulers, val and test loops (dataloaders and evaluators). One train
batch goes through the data preprocessor; for the small-input configs
(CIFAR, digits) a whole ``train_step`` runs. The ImageNet-LT / iNaturalist
ResNet-50-size models only get built (a step at 224x224 is too slow on CPU).

The generated data:

- ``LTListDataset`` (ImageNet-LT, iNaturalist 2018): a list file named like
  the config's ``ann_file`` with ``num_classes`` classes, long-tailed for
  training (3 lines for the first 10% of the classes, 1 for the rest), one
  line per class for val / test; every line points to one of a few tiny
  JPEGs.
- ``CIFAR10Auto`` / ``CIFAR100Auto``: the class-folder layout
  ``<split>/<class name>/*.png`` with 4 train and 1 test image per class;
  the wrapping ``LongTailDataset`` gets ``max_per_class=4, imb_factor=4``
  (4, ..., 1 images per class).
- ``LTDigits`` needs nothing (scikit-learn's bundled digits).

Speed (the whole file should stay well under two minutes on 2 busy cores):
torch runs single-threaded here (2 OpenMP threads on 2 loaded cores made a
ResNet-32 step ~50x slower), the config text is dumped without yapf
formatting (``format_python_code=False``; the dump is still compiled),
``collect_env`` (subprocesses) runs once for the file, and the objects that
exist before the first build are frozen out of the garbage collector, which
mmengine's datasets run after every build.
"""
import functools
import gc
import logging
import math
import os
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.optim import OptimWrapper
from mmengine.runner import runner as mmengine_runner
from mmpretrain.datasets import CIFAR10, CIFAR100
from mmpretrain.registry import RUNNERS

from mmace.datasets import get_class_counts

from conftest import REPO

CONFIG_DIR = REPO / 'configs'
HEADLINE = 'configs/ace/ace_r50_imagenet-lt.py'


def list_configs():
    """Relative paths of all configs, ``_base_`` folders excluded."""
    return sorted(
        p.relative_to(REPO).as_posix() for p in CONFIG_DIR.rglob('*.py')
        if '_base_' not in p.relative_to(CONFIG_DIR).parts
        and p.relative_to(CONFIG_DIR).parts[0] not in ('det', 'seg'))


CONFIGS = list_configs()

CIFAR_CLASSES = {
    'CIFAR10Auto': CIFAR10.METAINFO['classes'],
    'CIFAR100Auto': CIFAR100.METAINFO['classes'],
}
CIFAR_TRAIN_PER_CLASS = 4  # -> LongTailDataset(max_per_class=4, imb_factor=4)
NUM_LIST_IMAGES = 4  # image files shared by all lines of a list
TRAIN_BATCH = 8  # train batch size of the dry run (configs use 32..128)
EXPERT_PARAM = re.compile(r'^(?:backbone\.experts|head\.classifiers)\.(\d+)\.')


class FakeData:
    """Writes the small data sets on demand, each at most once."""

    def __init__(self, root: Path):
        self.root = root
        self.rng = np.random.default_rng(0)

    def _image(self, size):
        return self.rng.integers(0, 256, (size, size, 3), dtype=np.uint8)

    def cifar_root(self, dataset_type: str) -> str:
        root = self.root / dataset_type
        if not root.is_dir():
            for split, n in (('train', CIFAR_TRAIN_PER_CLASS), ('test', 1)):
                for name in CIFAR_CLASSES[dataset_type]:
                    class_dir = root / split / name
                    class_dir.mkdir(parents=True)
                    for j in range(n):
                        cv2.imwrite(str(class_dir / f'{j}.png'),
                                    self._image(32))
        return str(root)

    def list_root(self, ann_file: str, num_classes: int,
                  test_mode: bool) -> str:
        root = self.root / f'lt_list_{num_classes}'
        images = root / 'images'
        if not images.is_dir():
            images.mkdir(parents=True)
            for k in range(NUM_LIST_IMAGES):
                cv2.imwrite(str(images / f'{k}.jpg'), self._image(8))
        list_file = root / ann_file
        if not list_file.is_file():
            if test_mode:
                labels = list(range(num_classes))
            else:  # long-tailed: 3 images for the first 10%, 1 for the rest
                head = max(1, num_classes // 10)
                labels = [c for c in range(num_classes)
                          for _ in range(3 if c < head else 1)]
            list_file.parent.mkdir(parents=True, exist_ok=True)
            list_file.write_text(''.join(
                f'images/{k % NUM_LIST_IMAGES}.jpg {label}\n'
                for k, label in enumerate(labels)))
        return str(root)


@pytest.fixture(scope='module')
def fake_data(tmp_path_factory):
    return FakeData(tmp_path_factory.mktemp('config_data'))


@pytest.fixture(scope='module', autouse=True)
def quick_builds():
    """Make 38 runner builds affordable on a small, busy CPU machine."""
    num_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    gc.collect()
    gc.freeze()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(mmengine_runner, 'collect_env',
                   functools.lru_cache(maxsize=1)(
                       mmengine_runner.collect_env))
        yield
    gc.unfreeze()
    torch.set_num_threads(num_threads)


def redirect_datasets(node, data: FakeData) -> None:
    """Point every dataset config under ``node`` at the generated data."""
    if isinstance(node, dict):
        dataset_type = node.get('type')
        if dataset_type == 'LTListDataset':
            assert isinstance(node.get('num_classes'), int), node
            assert not os.path.isabs(node['ann_file']), node['ann_file']
            node['data_root'] = data.list_root(
                node['ann_file'], node['num_classes'],
                node.get('test_mode', False))
        elif dataset_type in CIFAR_CLASSES:
            node['data_root'] = data.cifar_root(dataset_type)
        elif dataset_type == 'LongTailDataset' and \
                node['dataset'].get('type') in CIFAR_CLASSES:
            # The official IF=100 needs >= 100 head images to keep every
            # class non-empty; 4, ..., 1 images per class keep the shape.
            node['max_per_class'] = CIFAR_TRAIN_PER_CLASS
            if node.get('imb_factor') is not None:
                node['imb_factor'] = CIFAR_TRAIN_PER_CLASS
        for value in node.values():
            redirect_datasets(value, data)
    elif isinstance(node, (list, tuple)):
        for value in node:
            redirect_datasets(value, data)


def load_config(rel_path: str, data: FakeData, work_dir: Path) -> Config:
    cfg = Config.fromfile(str(REPO / rel_path))
    # Dump without yapf: the filled iNaturalist config holds three 8142-long
    # class_counts lists, which yapf needs > 10 s per dump for here.
    # (mmengine 0.10.7's fromfile drops its own format_python_code argument
    # for non-lazy configs, hence the attribute.)
    object.__setattr__(cfg, '_format_python_code', False)
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(key)
        assert loader is not None, f'{rel_path} has no {key}'
        loader.num_workers = 0
        loader.pop('persistent_workers', None)
        redirect_datasets(loader, data)
    cfg.train_dataloader.batch_size = min(cfg.train_dataloader.batch_size,
                                          TRAIN_BATCH)
    cfg.work_dir = str(work_dir)
    cfg.launcher = 'none'
    # Runner instance names are '<experiment_name>_<timestamp>'; keep them
    # unique even if one config is built twice within a second.
    cfg.experiment_name = (rel_path.replace('/', '_')[:-3] + '_' +
                           work_dir.name)
    return cfg


def is_small_input(cfg: Config) -> bool:
    """CIFAR / digits configs: cheap enough for a real train step on CPU."""
    found = []

    def walk(node):
        if isinstance(node, dict):
            if node.get('type') in CIFAR_CLASSES or \
                    node.get('type') == 'LTDigits':
                found.append(node['type'])
            for value in node.values():
                walk(value)
        elif isinstance(node, (list, tuple)):
            for value in node:
                walk(value)

    walk(cfg.train_dataloader)
    return bool(found)


def close_runner(runner) -> None:
    """Close the log files a Runner opened in its work_dir."""
    logger = runner.logger
    for handler in list(logger.handlers):
        if isinstance(handler, logging.FileHandler):
            handler.close()
            logger.removeHandler(handler)


def check_ace_lrs(cfg: Config, model, optim_wrapper) -> None:
    """Experts 2..K learn slower than the shared trunk (Eq. 7 / 8)."""
    names = {id(p): n for n, p in model.named_parameters()}
    groups = optim_wrapper.optimizer.param_groups
    base_lr = groups[0]['lr']  # the shared trunk comes first
    scheme = (cfg.optim_wrapper.get('paramwise_cfg') or {}).get(
        'lr_scheme', 'linear')
    seen = set()
    for group in groups:
        experts = set()
        for p in group['params']:
            match = EXPERT_PARAM.match(names[id(p)])
            experts.add(int(match.group(1)) if match else None)
        assert len(experts) == 1, f'group mixes experts {experts}'
        expert = experts.pop()
        seen.add(expert)
        if expert is None or expert == 0 or scheme == 'uniform':
            assert group['lr'] == pytest.approx(base_lr)
        else:
            assert group['lr'] < base_lr, (expert, group['lr'], base_lr)
    num_experts = cfg.model.head.num_experts
    assert seen == {None, *range(num_experts)}


@pytest.mark.parametrize('rel_path', CONFIGS, ids=CONFIGS)
def test_config_dry_build(rel_path, fake_data, tmp_path, monkeypatch):
    cfg = load_config(rel_path, fake_data, tmp_path)
    assert cfg.get('runner_type') == 'LongTailRunner'
    amp = cfg.optim_wrapper.get('type') == 'AmpOptimWrapper'
    if amp and not torch.cuda.is_available():
        # AmpOptimWrapper asserts an accelerator in __init__ (as in
        # test_ace_optim_wrapper_constructor.py); building it is all that is
        # checked.
        from mmengine.optim.optimizer import amp_optimizer_wrapper
        monkeypatch.setattr(amp_optimizer_wrapper, 'is_cuda_available',
                            lambda: True)

    runner = RUNNERS.build(cfg)
    try:
        # The runner dumped the (filled) config; it must be valid Python.
        dumped = tmp_path / Path(rel_path).name
        compile(dumped.read_text(), str(dumped), 'exec')
        model = runner.model
        # The classes the data, the preprocessor and the head agree on.
        train_loader = runner.train_dataloader  # builds the train loop
        counts = get_class_counts(train_loader.dataset)
        num_classes = cfg.model.head.num_classes
        assert len(counts) == num_classes
        assert counts.min() >= 1
        if cfg.get('data_preprocessor', {}).get('num_classes') is not None:
            assert cfg.data_preprocessor.num_classes == num_classes
        ace = cfg.model.head.type == 'ACEHead'
        if ace:
            assert torch.equal(model.head.class_counts.cpu().long(),
                               torch.as_tensor(counts))

        # Same order as Runner.train().
        optim_wrapper = runner.build_optim_wrapper(runner.optim_wrapper)
        assert isinstance(optim_wrapper, OptimWrapper)
        assert type(optim_wrapper).__name__ == \
            cfg.optim_wrapper.get('type', 'OptimWrapper')
        runner.optim_wrapper = optim_wrapper
        runner.scale_lr(optim_wrapper, runner.auto_scale_lr)
        groups = optim_wrapper.optimizer.param_groups
        assert groups and all(g['params'] for g in groups)
        if ace:
            check_ace_lrs(cfg, model, optim_wrapper)
        schedulers = runner.build_param_scheduler(runner.param_schedulers)
        assert len(schedulers) == len(cfg.param_scheduler)
        for loop in (runner.val_loop, runner.test_loop):
            assert len(loop.dataloader.dataset) > 0
            assert loop.evaluator.metrics

        batch = next(iter(train_loader))
        if is_small_input(cfg):
            log_vars = model.train_step(batch, optim_wrapper)
            assert math.isfinite(log_vars['loss'].item())
        else:
            with torch.no_grad():
                data = model.data_preprocessor(batch, True)
            assert data['inputs'].shape == (len(batch['inputs']), 3, 224,
                                            224)
    finally:
        close_runner(runner)
        del runner
        gc.collect()


def test_every_config_is_collected():
    found = sorted(
        os.path.relpath(os.path.join(d, f), REPO).replace(os.sep, '/')
        for d, dirs, files in os.walk(CONFIG_DIR)
        if '_base_' not in Path(d).relative_to(CONFIG_DIR).parts
        and Path(d).relative_to(CONFIG_DIR).parts[:1] not in (('det', ),
                                                              ('seg', ))
        for f in files if f.endswith('.py'))
    marks = [m for m in test_config_dry_build.pytestmark
             if m.name == 'parametrize']
    assert len(marks) == 1
    params = list(marks[0].args[1])
    assert found and params == found
    assert HEADLINE in params
