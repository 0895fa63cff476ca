"""SecondStageHook: a second stage (cRT, LWS) starts from the first-stage
checkpoint, re-initialises and freezes what it is told, nothing else."""
import pytest
import torch
from mmengine.config import Config
from mmpretrain.registry import RUNNERS

from conftest import CE_DIGITS
from mmace.engine.hooks import SecondStageHook
from mmace.utils.errors import ConfigError


def stage2_config(tmp_path, hook, load_from, head=None):
    cfg = Config.fromfile(CE_DIGITS)
    cfg.work_dir = str(tmp_path)
    cfg.load_from = load_from
    cfg.train_cfg.max_epochs = 1
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.train_dataloader.sampler = dict(type='ClassBalancedSampler')
    cfg.custom_hooks = [dict(type='SecondStageHook', **hook)]
    if head:
        cfg.model.head.update(head)
    return cfg


def train(cfg):
    runner = RUNNERS.build(cfg)
    runner.train()
    return {k: v.detach().clone() for k, v in runner.model.state_dict().items()}


def stage1(trained_digits):
    return torch.load(trained_digits.ce.last, map_location='cpu',
                      weights_only=False)['state_dict']


def test_crt_retrains_a_reinitialised_classifier_on_frozen_features(
        tmp_path, trained_digits):
    before = stage1(trained_digits)
    cfg = stage2_config(tmp_path, dict(reinit=['head.fc']),
                        str(trained_digits.ce.last))
    after = train(cfg)
    for key, value in before.items():
        if key.startswith('backbone.'):
            # Weights and batch-norm statistics: the first stage's.
            assert torch.equal(after[key], value), key
    # Re-initialised, then trained: far from the stage-1 classifier.
    assert not torch.allclose(after['head.fc.weight'],
                              before['head.fc.weight'], atol=1e-2)


def test_lws_learns_only_the_per_class_scales(tmp_path, trained_digits):
    before = stage1(trained_digits)
    cfg = stage2_config(
        tmp_path,
        dict(freeze=['backbone', 'neck', 'head.fc.weight', 'head.fc.bias']),
        str(trained_digits.ce.last),
        head=dict(type='LongTailLinearClsHead', lws=True))
    after = train(cfg)
    for key, value in before.items():
        assert torch.equal(after[key], value), key
    assert after['head.fc.scale'].shape == (10, )
    assert not torch.equal(after['head.fc.scale'], torch.ones(10))


def test_a_second_stage_without_load_from_is_refused(tmp_path):
    cfg = stage2_config(tmp_path, dict(reinit=['head.fc']), None)
    with pytest.raises(ConfigError, match='load_from='):
        train(cfg)


def test_unknown_names_are_refused(tmp_path, trained_digits):
    for hook, culprit in ((dict(reinit=['head.classifier']),
                           'head.classifier'), (dict(freeze=['backbone.x']),
                                                'backbone.x')):
        cfg = stage2_config(tmp_path, hook, str(trained_digits.ce.last))
        with pytest.raises(ConfigError, match=culprit):
            train(cfg)
    with pytest.raises(ConfigError, match='list of module names'):
        SecondStageHook(reinit='head.fc')
