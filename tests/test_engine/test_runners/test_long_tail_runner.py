"""LongTailRunner: 'auto' class counts (who takes them, their values) and
the heads' num_classes check."""
import pytest
import torch.nn as nn
from mmengine.config import Config
from mmpretrain.registry import MODELS

from mmace.datasets import resolve_class_counts
from mmace.engine.runners.long_tail_runner import (check_head_num_classes,
                                                   fill_auto_class_counts,
                                                   takes_class_counts)

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
    assert counts == expected == [128, 102, 79, 61, 47, 37, 28, 22, 17, 13]
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
