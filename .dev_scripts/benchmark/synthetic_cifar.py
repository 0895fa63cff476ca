"""Random CIFAR-shaped training data, for machines without the real sets.

Importing this module registers ``SpeedCheckCIFAR`` (random uint8 32x32x3
images, ``per_class`` of each of ``num_classes`` classes, held in one array
like mmpretrain's pickle CIFAR) in mmpretrain's ``DATASETS``.
:func:`synthetic_config` writes a config that trains CONFIG on it (its
pipeline and dataset wrappers kept), so that ``tools/train.py`` in another
process can run it too (``custom_imports``; this folder on ``PYTHONPATH``).
"""
from pathlib import Path

import numpy as np
from mmengine.config import Config
from mmpretrain.datasets import BaseDataset
from mmpretrain.registry import DATASETS

HERE = Path(__file__).resolve().parent


@DATASETS.register_module(force=True)
class SpeedCheckCIFAR(BaseDataset):
    """``per_class`` random uint8 32x32x3 images of each class."""

    def __init__(self, num_classes=100, per_class=500, seed=0, **kwargs):
        self.num_classes, self.per_class = num_classes, per_class
        rng = np.random.default_rng(seed)
        self.images = rng.integers(
            0, 256, (num_classes * per_class, 32, 32, 3), dtype=np.uint8)
        super().__init__(
            ann_file='',
            metainfo=dict(classes=[f'c{i}' for i in range(num_classes)]),
            **kwargs)

    def load_data_list(self):
        return [
            dict(gt_label=i // self.per_class, index=i)
            for i in range(self.num_classes * self.per_class)
        ]

    def get_data_info(self, idx):
        info = super().get_data_info(idx)
        info['img'] = self.images[info['index']].copy()
        return info


def synthetic_config(config: str, out: str, images: int = 50000) -> str:
    """Write ``out``: ``config`` trained on ``images`` random images split
    evenly over the config's classes (``model.head.num_classes``), no
    validation. Returns ``out``."""
    cfg = Config.fromfile(config)
    num_classes = cfg.model.head.num_classes
    path = ['train_dataloader', 'dataset']
    dataset = cfg.train_dataloader.dataset
    while 'pipeline' not in dataset and 'dataset' in dataset:
        path.append('dataset')
        dataset = dataset.dataset
    inner = dict(_delete_=True, type='SpeedCheckCIFAR',
                 num_classes=num_classes, per_class=images // num_classes,
                 pipeline=dataset.pipeline)
    for key in reversed(path[1:]):
        inner = {key: inner}
    Path(out).write_text(
        f'_base_ = {str(Path(config).resolve())!r}\n'
        "custom_imports = dict(imports=['mmace', 'synthetic_cifar'], "
        'allow_failed_imports=False)\n'
        f'{path[0]} = {inner!r}\n'
        'val_cfg = None\nval_dataloader = None\nval_evaluator = None\n')
    return out
