"""LongTailRunner's 'auto' class counts: who takes them, and their values."""
import pytest
import torch.nn as nn
from mmengine.config import Config
from mmpretrain.registry import MODELS

from mmace.datasets import resolve_class_counts
from mmace.engine.runners.long_tail_runner import (fill_auto_class_counts,
                                                   takes_class_counts)

from conftest import REPO

DIGITS = REPO / 'configs/quickstart/ace_r32_digits-lt.py'


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
    cfg = Config.fromfile(DIGITS)
    cfg.model.head.pop('class_counts', None)
    cfg.val_evaluator.pop('class_counts', None)
    cfg.model.neck = dict(type='CountsTakingToyHead')  # any position
    counts = fill_auto_class_counts(cfg)
    expected = list(resolve_class_counts(cfg.train_dataloader.dataset))
    assert counts == expected == [128, 102, 79, 61, 47, 37, 28, 22, 17, 13]
    assert list(cfg.model.head.class_counts) == expected
    assert list(cfg.model.neck.class_counts) == expected
    assert list(cfg.val_evaluator.class_counts) == expected


def test_absolute_eta_min_with_eq7_learning_rates_is_refused():
    from mmace.models.utils.checks import check_eq7_schedulers
    cfg = Config(dict(
        optim_wrapper=dict(constructor='ACEOptimWrapperConstructor'),
        param_scheduler=[dict(type='LinearLR'),
                         dict(type='PolyLR', eta_min=1e-4)]))
    with pytest.raises(ValueError,
                       match=r'param_scheduler\[1\].eta_min=0.0001 \(PolyLR\)'):
        check_eq7_schedulers(cfg)
    cfg.param_scheduler[1].eta_min = 0
    check_eq7_schedulers(cfg)  # no floor: the ratios hold
    # Without the ACE constructor every group has the same lr anyway.
    check_eq7_schedulers(Config(dict(param_scheduler=dict(
        type='PolyLR', eta_min=1e-4))))
