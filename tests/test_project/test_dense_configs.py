"""Every config under configs/det and configs/seg loads and builds.

Each ACE config is the twin of a stock one and differs only in the head
(``roi_head.bbox_head`` / ``decode_head``); real-use configs keep the usual
ImageNet-pretrained backbone, the CPU configs train from scratch. Models are
built with their framework's registry; weights are not initialised, so
nothing is downloaded.
"""
import copy

import pytest
from mmengine.config import Config
from mmengine.registry import DefaultScope

import mmace  # noqa: F401
from conftest import REPO

DENSE = sorted(
    p.relative_to(REPO).as_posix()
    for d in ('configs/det', 'configs/seg') for p in (REPO / d).glob('*.py'))
TWINS = [(c.replace('/ace_', '/'), c) for c in DENSE if '/ace_' in c]
HEAD_KEY = {'mmdet': ('roi_head', 'bbox_head'), 'mmseg': ('decode_head', )}
SEG_CONFIGS = REPO / 'configs' / 'seg'


def without_head(cfg):
    model = copy.deepcopy(cfg.to_dict())['model']
    *parents, last = HEAD_KEY[cfg.default_scope]
    node = model
    for key in parents:
        node = node[key]
    return model, node.pop(last)


def test_every_dense_config_has_a_twin():
    assert len(DENSE) >= 8
    assert {ace for _, ace in TWINS} == {c for c in DENSE if '/ace_' in c}
    assert all(stock in DENSE for stock, _ in TWINS)


@pytest.mark.parametrize('stock,ace', TWINS)
def test_ace_twin_differs_only_in_the_head(stock, ace):
    stock_cfg, ace_cfg = (Config.fromfile(REPO / c) for c in (stock, ace))
    stock_model, stock_head = without_head(stock_cfg)
    ace_model, ace_head = without_head(ace_cfg)
    assert ace_model == stock_model
    assert ace_head['type'].startswith('ACE')
    assert not stock_head['type'].startswith('ACE')
    for key in ('train_dataloader', 'optim_wrapper', 'param_scheduler',
                'train_cfg', 'val_evaluator'):
        assert ace_cfg[key] == stock_cfg[key], key


@pytest.mark.parametrize('config', DENSE)
def test_config_builds_its_model(config):
    cfg = Config.fromfile(REPO / config)
    assert cfg.runner_type == 'LongTailRunner'
    assert cfg.default_scope in HEAD_KEY
    model_cfg = copy.deepcopy(cfg.model)
    _, head = without_head(cfg)
    if head['type'].startswith('ACE'):
        # What LongTailRunner fills in from the training set.
        *parents, last = HEAD_KEY[cfg.default_scope]
        node = model_cfg
        for key in parents:
            node = node[key]
        node[last]['class_counts'] = list(range(head['num_classes'], 0, -1))
    scope = cfg.default_scope
    registry = __import__(f'{scope}.registry', fromlist=['MODELS']).MODELS
    with DefaultScope.overwrite_default_scope(scope):
        model = registry.build(model_cfg)
    assert sum(p.numel() for p in model.parameters()) > 0
    text = (REPO / config).read_text()
    backbone = cfg.model.backbone
    pretrained = cfg.model.get('pretrained') or (
        backbone.get('init_cfg') or {}).get('checkpoint')
    if config.endswith(('_cpu.py', '_overfit16.py')):
        assert not pretrained, 'CPU configs train from scratch'
    else:
        assert pretrained and 'resnet50' in pretrained, text


@pytest.mark.parametrize('scope', ['mmdet', 'mmseg'])
def test_mmace_engine_parts_are_found_from_the_scope(scope):
    """mmdet's / mmseg's own tools build with their own registries."""
    from mmace.engine import (ACEOptimWrapperConstructor, LongTailRunner,
                              NonFiniteLossHook)
    registry = __import__(f'{scope}.registry', fromlist=['RUNNERS'])
    assert registry.RUNNERS.get('LongTailRunner') is LongTailRunner
    assert registry.HOOKS.get('NonFiniteLossHook') is NonFiniteLossHook
    assert registry.OPTIM_WRAPPER_CONSTRUCTORS.get(
        'ACEOptimWrapperConstructor') is ACEOptimWrapperConstructor


def test_cpu_configs_are_twins_differing_only_in_the_head():
    pytest.importorskip('mmseg')
    stock = Config.fromfile(SEG_CONFIGS / 'fcn_r18-d8_camvid_cpu.py')
    ace = Config.fromfile(SEG_CONFIGS / 'ace_fcn_r18-d8_camvid_cpu.py')
    assert stock.default_scope == 'mmseg'
    assert stock.runner_type == ace.runner_type == 'LongTailRunner'
    assert stock.model.pretrained is None
    head = ace.model.decode_head
    assert head.pop('type') == 'ACEFCNHead'
    assert head.pop('num_experts') == 3
    assert head.pop('class_counts') == 'auto'
    stock.model.decode_head.pop('type')
    assert stock.to_dict() == ace.to_dict()
    real = Config.fromfile(SEG_CONFIGS / 'ace_fcn_r50-d8_camvid.py')
    assert real.model.pretrained == 'open-mmlab://resnet50_v1c'
    assert real.model.decode_head.type == 'ACEFCNHead'
