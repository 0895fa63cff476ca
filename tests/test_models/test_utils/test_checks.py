"""Config checks of mmace.models.utils.checks that name the bad keys."""
import pytest
from mmengine.config import Config

from mmace.models.utils.checks import (check_eq7_schedulers,
                                       check_num_experts_match)


def test_num_experts_mismatch_is_reported_with_both_keys():
    model = dict(backbone=dict(type='ACEBackbone', num_experts=3),
                 head=dict(type='ACEHead', num_experts=4))
    with pytest.raises(ValueError, match=r'model.backbone.num_experts=3 and '
                       r'model.head.num_experts=4 differ'):
        check_num_experts_match(model)
    # Both left at their default (3), or equal: fine.
    check_num_experts_match(dict(backbone=dict(type='ACEBackbone'),
                                 head=dict(type='ACEHead', num_experts=3)))
    check_num_experts_match(dict(backbone=dict(type='ResNet'),
                                 head=dict(type='LinearClsHead')))


def test_absolute_eta_min_with_eq7_learning_rates_is_refused():
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
