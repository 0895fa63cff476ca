"""LongTailRunner: 'auto' class counts (who takes them, their values, where
they come from when training and when testing) and the heads' num_classes
check."""
from unittest.mock import patch

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmpretrain.registry import DATASETS, MODELS

from mmace.datasets import LTDigits, resolve_class_counts
from mmace.engine.runners.long_tail_runner import (check_head_num_classes,
                                                   fill_auto_class_counts,
                                                   takes_class_counts)
from mmace.utils.errors import CheckpointError, ConfigError

from conftest import ACE_DIGITS


@MODELS.register_module()
class CountsTakingToyHead(nn.Module):
    """A user's own class opts in with the attribute."""
    takes_class_counts = True

    def __init__(self, class_counts=None):
        super().__init__()
        self.class_counts = class_counts


def test_consumers_are_found_through_the_registries():
    for name in ('ACEHead', 'LongTailAccuracy', 'CountsTakingToyHead',
                 'mmdet.ACEShared2FCBBoxHead', 'mmdet.LongTailCocoMetric',
                 'mmseg.ACEFCNHead', 'mmseg.LongTailIoUMetric'):
        assert takes_class_counts(name), name
    for name in ('LinearClsHead', 'Accuracy', 'NoSuchType', None, 3):
        assert not takes_class_counts(name), name
    assert takes_class_counts(CountsTakingToyHead)


def test_left_out_counts_mean_auto():
    cfg = Config.fromfile(ACE_DIGITS)
    cfg.model.head.pop('class_counts', None)
    cfg.val_evaluator.pop('class_counts', None)
    cfg.model.neck = dict(type='CountsTakingToyHead')  # any position
    counts = fill_auto_class_counts(cfg)
    expected = list(resolve_class_counts(cfg.train_dataloader.dataset))
    assert counts == expected == [128, 99, 76, 59, 46, 35, 27, 21, 16, 12]
    assert list(cfg.model.head.class_counts) == expected
    assert list(cfg.model.neck.class_counts) == expected
    assert list(cfg.val_evaluator.class_counts) == expected


def test_runner_checks_detector_and_segmentor_heads():
    counts = [5, 3, 1]
    det = Config(dict(model=dict(roi_head=dict(bbox_head=dict(
        type='Shared2FCBBoxHead', num_classes=80)))))
    with pytest.raises(ValueError,
                       match=r'model\.roi_head\.bbox_head\.num_classes=80'):
        check_head_num_classes(det, counts)
    cascade = Config(dict(model=dict(roi_head=dict(bbox_head=[
        dict(type='Shared2FCBBoxHead', num_classes=3),
        dict(type='Shared2FCBBoxHead', num_classes=4)]))))
    with pytest.raises(ValueError, match=r'bbox_head\[1\]\.num_classes=4'):
        check_head_num_classes(cascade, counts)
    seg = Config(dict(model=dict(decode_head=dict(type='FCNHead',
                                                  num_classes=3))))
    check_head_num_classes(seg, counts)  # matches: no error


# Class counts at test time: read from the checkpoint, nothing recounted --


def _test_only_config(tmp_path, **meta):
    """The quick-start config as tools/test.py runs it: no training
    sections, a checkpoint holding ``meta``."""
    cfg = Config.fromfile(ACE_DIGITS)
    cfg.train_dataloader = cfg.train_cfg = None
    cfg.optim_wrapper = cfg.param_scheduler = None
    ckpt = tmp_path / 'stage.pth'
    torch.save(dict(state_dict={}, meta=meta), ckpt)
    cfg.load_from = str(ckpt)
    return cfg


def test_testing_reads_the_counts_the_checkpoint_recorded(tmp_path):
    recorded = [50, 40, 30, 20, 10, 9, 8, 7, 6, 5]
    cfg = _test_only_config(
        tmp_path, dataset_meta=dict(class_counts=recorded))
    with patch.object(DATASETS, 'build',
                      side_effect=AssertionError('built a dataset')):
        assert fill_auto_class_counts(cfg) == recorded
    assert list(cfg.model.head.class_counts) == recorded
    assert list(cfg.test_evaluator.class_counts) == recorded


def test_a_checkpoint_without_counts_is_named(tmp_path):
    cfg = _test_only_config(tmp_path, dataset_meta=dict(classes=['0']))
    with pytest.raises(CheckpointError) as e:
        fill_auto_class_counts(cfg)
    assert cfg.load_from in str(e.value)
    assert "meta['dataset_meta']['class_counts']" in str(e.value)


def test_no_training_set_and_no_checkpoint_is_refused():
    cfg = Config.fromfile(ACE_DIGITS)
    cfg.train_dataloader = None
    with pytest.raises(ConfigError, match='load_from'):
        fill_auto_class_counts(cfg)


def test_training_records_the_counts_in_the_dataset_metainfo():
    """A dataset without counts in its metainfo (LTDigits unwrapped) gets
    them there, so mmengine saves them with every checkpoint."""
    cfg = Config.fromfile(ACE_DIGITS)
    cfg.train_dataloader.dataset = cfg.train_dataloader.dataset.dataset
    counts = fill_auto_class_counts(cfg)
    assert sum(counts) == len(LTDigits(split='train'))
    built = DATASETS.build(cfg.train_dataloader.dataset)
    assert built.metainfo['class_counts'] == counts
