"""SecondStageHook: a second stage (cRT, LWS) starts from the first-stage
checkpoint and re-initialises what it is told with the module's own
initialisation; what stays frozen is set in the config, before the model is
wrapped (tests/test_tools/test_dist_train.py runs both under DDP)."""
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmpretrain.registry import MODELS, RUNNERS

from conftest import CE_DIGITS
from mmace.engine.hooks import SecondStageHook
from mmace.utils.errors import ConfigError

#: cRT: the whole CIFAR ResNet-32 frozen, batch-norm statistics included.
FROZEN_BACKBONE = dict(frozen_stages=3, norm_eval=True)
#: LWS: the classifier's weights kept as they are.
KEEP_FC = dict(paramwise_cfg=dict(custom_keys={
    'head.fc.weight': dict(lr_mult=0., decay_mult=0.),
    'head.fc.bias': dict(lr_mult=0., decay_mult=0.)}))


def stage2_config(tmp_path, hook, load_from, head=None, optim=None):
    cfg = Config.fromfile(CE_DIGITS)
    cfg.work_dir = str(tmp_path)
    cfg.load_from = load_from
    cfg.train_cfg.max_epochs = 1
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.train_dataloader.sampler = dict(type='ClassBalancedSampler')
    cfg.model.backbone.update(FROZEN_BACKBONE)
    cfg.custom_hooks = [dict(type='SecondStageHook', **hook)]
    if head:
        cfg.model.head.update(head)
    if optim:
        cfg.optim_wrapper.update(optim)
    return cfg


def train(cfg):
    runner = RUNNERS.build(cfg)
    runner.train()
    return {
        k: v.detach().clone()
        for k, v in runner.model.state_dict().items()
    }


def stage1(trained_digits):
    return torch.load(trained_digits.ce.last, map_location='cpu',
                      weights_only=False)['state_dict']


def test_crt_retrains_a_reinitialised_classifier_on_frozen_features(
        tmp_path, trained_digits):
    before = stage1(trained_digits)
    cfg = stage2_config(tmp_path, dict(reinit=['head']),
                        str(trained_digits.ce.last))
    after = train(cfg)
    for key, value in before.items():
        if key.startswith('backbone.'):
            # Weights and batch-norm statistics: the first stage's.
            assert torch.equal(after[key], value), key
    # Re-initialised, then trained: far from the stage-1 classifier.
    assert not torch.allclose(after['head.fc.weight'],
                              before['head.fc.weight'], atol=1e-2)


def test_reinit_uses_the_modules_own_initialisation():
    """LinearClsHead's init_cfg: Normal(std=0.01) weights, zero bias (not
    nn.Linear.reset_parameters' uniform +-1/sqrt(64))."""
    cfg = Config.fromfile(CE_DIGITS)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(cfg.model)
    model.init_weights()
    fc = model.head.fc
    torch.nn.init.constant_(fc.weight, 1.)
    torch.nn.init.constant_(fc.bias, 1.)
    backbone = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    SecondStageHook(reinit=['head']).reinit_modules(model)
    assert 0.008 < fc.weight.std().item() < 0.012
    assert torch.equal(fc.bias, torch.zeros_like(fc.bias))
    for key, value in model.backbone.state_dict().items():
        assert torch.equal(value, backbone[key]), key


def test_lws_learns_only_the_per_class_scales(tmp_path, trained_digits):
    before = stage1(trained_digits)
    cfg = stage2_config(
        tmp_path, dict(), str(trained_digits.ce.last),
        head=dict(type='LongTailLinearClsHead', lws=True), optim=KEEP_FC)
    after = train(cfg)
    for key, value in before.items():
        assert torch.equal(after[key], value), key
    assert after['head.fc.scale'].shape == (10, )
    assert not torch.equal(after['head.fc.scale'], torch.ones(10))


def test_a_second_stage_without_load_from_is_refused(tmp_path):
    cfg = stage2_config(tmp_path, dict(reinit=['head']), None)
    with pytest.raises(ConfigError, match='load_from='):
        train(cfg)


def test_unknown_names_are_refused(tmp_path, trained_digits):
    # head.fc is a plain nn.Linear: it has no init of its own.
    for name in ('head.classifier', 'head.fc'):
        cfg = stage2_config(tmp_path, dict(reinit=[name]),
                            str(trained_digits.ce.last))
        with pytest.raises(ConfigError, match=name):
            train(cfg)
    with pytest.raises(ConfigError, match='list of module names'):
        SecondStageHook(reinit='head')
