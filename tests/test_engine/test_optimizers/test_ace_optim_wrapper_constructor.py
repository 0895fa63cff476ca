"""ACEOptimWrapperConstructor (Sec. 3.4, Eq. 7/8).

The expected expert shares are written out by hand (CIFAR-10-LT-100) or
computed here in plain Python (Places-LT), independently of
``mmace.models.ace``.
"""
import math
from collections import Counter

import pytest
import torch
import torch.nn as nn
from mmengine.optim import LinearLR, MultiStepLR, build_optim_wrapper
from mmengine.registry import init_default_scope

import mmace  # noqa: F401  (registers the constructor)
from mmace.engine import ACEOptimWrapperConstructor
from mmace.models.ace import expert_shares, plan_target_masks

from conftest import LT_LISTS

# CIFAR-10-LT-100 training counts. With 5 experts, expert i (0-based) targets
# class ranks 2i..9, so its share is sum(counts[2i:]) / 12406:
#   12406, 12406 - 5000 - 2997 = 4409, 4409 - 1796 - 1077 = 1536,
#   1536 - 645 - 387 = 504, 504 - 232 - 139 = 133 (= 83 + 50).
CIFAR10_LT_COUNTS = [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]
CIFAR10_LT_SHARES = [n / 12406 for n in (12406, 4409, 1536, 504, 133)]

PLACES_LT_TRAIN = LT_LISTS / 'Places_LT_train.txt'

SGD = dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=5e-4)
SCHEMES = dict(linear=lambda s: s, sqrt=math.sqrt, uniform=lambda s: 1.)


class ToyACEHead(nn.Module):
    """Stand-in for ACEHead: per-expert classifiers + stored counts."""

    def __init__(self, class_counts, num_experts, in_channels=4):
        super().__init__()
        self.num_experts = num_experts
        self.register_buffer('class_counts', torch.tensor(class_counts))
        self.classifiers = nn.ModuleList(
            nn.Linear(in_channels, len(class_counts))
            for _ in range(num_experts))

    def expert_shares(self):
        masks = plan_target_masks(self.class_counts, self.num_experts)
        return expert_shares(self.class_counts, masks)


class ToyACE(nn.Module):
    """Stand-in for an ACE ImageClassifier (same attribute names)."""

    def __init__(self, class_counts, num_experts):
        super().__init__()
        self.backbone = nn.Module()
        self.backbone.stem = nn.Sequential(
            nn.Conv2d(3, 4, 3, bias=False), nn.BatchNorm2d(4))
        self.backbone.experts = nn.ModuleList(
            nn.Sequential(nn.Conv2d(4, 4, 3), nn.BatchNorm2d(4))
            for _ in range(num_experts))
        self.neck = nn.Linear(4, 4)
        self.head = ToyACEHead(class_counts, num_experts)


def build(model, optimizer=SGD, **kwargs):
    """Build through mmengine's builder, as the Runner does."""
    init_default_scope('mmpretrain')
    cfg = dict(
        constructor='ACEOptimWrapperConstructor', optimizer=optimizer,
        **kwargs)
    return build_optim_wrapper(model, cfg)


def group_of(optim_wrapper, param):
    groups = [
        g for g in optim_wrapper.param_groups
        if any(p is param for p in g['params'])
    ]
    assert len(groups) == 1
    return groups[0]


def expert_params(model, i):
    yield from model.backbone.experts[i].parameters()
    yield from model.head.classifiers[i].parameters()


def shared_params(model):
    for name, p in model.named_parameters():
        if '.experts.' not in name and '.classifiers.' not in name:
            yield p


def check_lrs(optim_wrapper, model, base_lr, factors):
    for p in shared_params(model):
        assert group_of(optim_wrapper, p)['lr'] == pytest.approx(base_lr)
    for i, factor in enumerate(factors):
        for p in expert_params(model, i):
            assert group_of(optim_wrapper, p)['lr'] == pytest.approx(
                base_lr * factor, rel=1e-6)  # shares are float32


def places_lt_counts():
    if not PLACES_LT_TRAIN.is_file():
        pytest.skip(f'{PLACES_LT_TRAIN} not found')
    labels = Counter(
        int(line.split()[-1])
        for line in PLACES_LT_TRAIN.read_text().splitlines() if line.strip())
    return [labels.get(c, 0) for c in range(max(labels) + 1)]


def plain_shares(counts, num_experts):
    """Eq. 1 + Eq. 7 by hand: expert i targets ranks floor(i*C/K).. ."""
    ranked = sorted(counts, reverse=True)
    num_classes = len(ranked)
    return [
        sum(ranked[i * num_classes // num_experts:]) / sum(ranked)
        for i in range(num_experts)
    ]


@pytest.mark.parametrize('scheme', list(SCHEMES))
def test_cifar10_lt_expert_lr_is_eta0_times_scaled_share(scheme):
    model = ToyACE(CIFAR10_LT_COUNTS, num_experts=5)
    optim_wrapper = build(model, paramwise_cfg=dict(lr_scheme=scheme))
    factors = [SCHEMES[scheme](s) for s in CIFAR10_LT_SHARES]
    check_lrs(optim_wrapper, model, 0.1, factors)
    # One shared group + one per expert; momentum / wd untouched.
    groups = optim_wrapper.optimizer.param_groups
    assert len(groups) == 6
    assert groups[0]['lr'] == 0.1  # the `lr` mmengine logs is group 0's
    for group in groups:
        assert group['momentum'] == 0.9
        assert group['weight_decay'] == 5e-4


def test_default_scheme_is_linear():
    model = ToyACE(CIFAR10_LT_COUNTS, num_experts=5)
    check_lrs(build(model), model, 0.1, CIFAR10_LT_SHARES)


@pytest.mark.parametrize('scheme', list(SCHEMES))
def test_places_lt_profile(scheme):
    counts = places_lt_counts()
    assert len(counts) == 365
    shares = plain_shares(counts, 3)
    assert shares[0] == 1 and 0 < shares[2] < shares[1] < 1
    model = ToyACE(counts, num_experts=3)
    optim_wrapper = build(model, paramwise_cfg=dict(lr_scheme=scheme))
    check_lrs(optim_wrapper, model, 0.1, [SCHEMES[scheme](s) for s in shares])


def real_ace_model(class_counts, num_experts, num_classes=10):
    from mmpretrain.registry import MODELS
    if 'ACEBackbone' not in MODELS.module_dict:
        pytest.skip('ACEBackbone is not registered')
    return MODELS.build(
        dict(
            type='ImageClassifier',
            backbone=dict(
                type='ACEBackbone',
                backbone=dict(type='CIFARResNet', depth=32),
                num_experts=num_experts),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(
                type='ACEHead',
                num_classes=num_classes,
                in_channels=64,
                num_experts=num_experts,
                class_counts=class_counts)))


@pytest.mark.parametrize('scheme', list(SCHEMES))
def test_real_ace_model(scheme):
    model = real_ace_model(CIFAR10_LT_COUNTS, num_experts=5)
    optim_wrapper = build(model, paramwise_cfg=dict(lr_scheme=scheme))
    for p in model.backbone.trunk.parameters():
        assert group_of(optim_wrapper, p)['lr'] == pytest.approx(0.1)
    check_lrs(optim_wrapper, model, 0.1,
              [SCHEMES[scheme](s) for s in CIFAR10_LT_SHARES])


def test_real_ace_model_without_counts():
    # Counts left to the LongTailRunner ('auto') but never filled.
    model = real_ace_model('auto', num_experts=5)
    with pytest.raises(RuntimeError, match='class counts were never'):
        build(model)


def test_ratios_survive_warmup_and_milestones():
    model = ToyACE(CIFAR10_LT_COUNTS, num_experts=5)
    optim_wrapper = build(model)
    schedulers = [
        LinearLR(optim_wrapper, start_factor=0.1, begin=0, end=3),
        MultiStepLR(optim_wrapper, milestones=[5, 7], gamma=0.1),
    ]
    for epoch in range(9):
        if epoch < 3:  # linear warm-up: 0.01, 0.055, 0.1
            expected = 0.1 * (0.1 + 0.9 * epoch / 2)
        else:
            expected = 0.1 * 0.1**sum(epoch >= m for m in (5, 7))
        check_lrs(optim_wrapper, model, expected, CIFAR10_LT_SHARES)
        for scheduler in schedulers:
            scheduler.step()


def test_adamw_with_paramwise_cfg():
    model = ToyACE(CIFAR10_LT_COUNTS, num_experts=5)
    optim_wrapper = build(
        model,
        optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05),
        paramwise_cfg=dict(
            lr_scheme='linear',
            norm_decay_mult=0.,
            bias_decay_mult=0.,
            custom_keys={'.classifiers': dict(lr_mult=0.5)}))
    share = CIFAR10_LT_SHARES[3]
    conv, bn = model.backbone.experts[3]
    fc = model.head.classifiers[3]
    # fc.bias: custom_keys win over the decay mults (mmengine's rule).
    for p, lr, wd in [(conv.weight, 1e-3 * share, 0.05),
                      (conv.bias, 1e-3 * share, 0.),
                      (bn.weight, 1e-3 * share, 0.),
                      (fc.bias, 1e-3 * 0.5 * share, 0.05),
                      (model.backbone.stem[1].bias, 1e-3, 0.),
                      (model.backbone.stem[0].weight, 1e-3, 0.05)]:
        group = group_of(optim_wrapper, p)
        assert group['lr'] == pytest.approx(lr)
        assert group['weight_decay'] == wd
    assert isinstance(optim_wrapper.optimizer, torch.optim.AdamW)
    # Equal settings merged: shared {wd, no wd}, per expert
    # {wd, no wd, classifier}.
    assert len(optim_wrapper.optimizer.param_groups) == 2 + 3 * 5


def test_amp_optim_wrapper_and_clip_grad(monkeypatch):
    if not torch.cuda.is_available():
        # AmpOptimWrapper asserts an accelerator in __init__; only the
        # pass-through of wrapper type and options is under test here.
        from mmengine.optim.optimizer import amp_optimizer_wrapper
        monkeypatch.setattr(amp_optimizer_wrapper, 'is_cuda_available',
                            lambda: True)
    model = ToyACE(CIFAR10_LT_COUNTS, num_experts=5)
    optim_wrapper = build(
        model,
        type='AmpOptimWrapper',
        dtype='bfloat16',
        clip_grad=dict(max_norm=5.))
    assert type(optim_wrapper).__name__ == 'AmpOptimWrapper'
    assert optim_wrapper.clip_grad_kwargs == dict(max_norm=5.)
    check_lrs(optim_wrapper, model, 0.1, CIFAR10_LT_SHARES)


def test_model_wrapper_and_custom_prefixes():
    model = ToyACE(CIFAR10_LT_COUNTS, num_experts=5)
    wrapper = nn.Module()
    wrapper.module = model  # like DDP: parameters named 'module.*'
    check_lrs(build(wrapper), model, 0.1, CIFAR10_LT_SHARES)

    optim_wrapper = build(
        model, paramwise_cfg=dict(expert_prefixes=['head.classifiers']))
    for p in model.backbone.experts[4].parameters():
        assert group_of(optim_wrapper, p)['lr'] == pytest.approx(0.1)
    for p in model.head.classifiers[4].parameters():
        assert group_of(optim_wrapper, p)['lr'] == pytest.approx(
            0.1 * CIFAR10_LT_SHARES[4])


def test_segmentor_and_detector_heads_number_experts_from_two():
    """mmdet/mmseg ACE heads keep expert 1 under the stock names; their
    ``experts`` list starts at expert 2, and the head is found by its
    ``expert_shares()`` wherever it sits."""
    from mmace.seg import ACEFCNHead
    for path in ('decode_head', 'roi_head.bbox_head'):
        model = nn.Module()
        model.backbone = nn.Conv2d(3, 4, 3)
        head = ACEFCNHead(
            num_experts=5, class_counts=CIFAR10_LT_COUNTS, in_channels=4,
            channels=4, num_convs=1, concat_input=False, num_classes=10)
        if path == 'decode_head':
            model.decode_head = head
        else:
            model.roi_head = nn.Module()
            model.roi_head.bbox_head = head
        optim_wrapper = build(model)
        assert group_of(optim_wrapper, model.backbone.weight)['lr'] == \
            pytest.approx(0.1)
        assert group_of(optim_wrapper, head.conv_seg.weight)['lr'] == \
            pytest.approx(0.1)  # expert 1: the stock head's names
        for j, expert in enumerate(head.experts):
            for p in expert.parameters():
                assert group_of(optim_wrapper, p)['lr'] == pytest.approx(
                    0.1 * CIFAR10_LT_SHARES[j + 1])


def test_bad_inputs():
    with pytest.raises(ValueError, match=r'paramwise_cfg\.lr_scheme'):
        ACEOptimWrapperConstructor(
            dict(optimizer=SGD), dict(lr_scheme='cubic'))

    plain = nn.Module()
    plain.backbone = nn.Conv2d(3, 4, 3)
    plain.head = nn.Linear(4, 10)
    with pytest.raises(ValueError, match=r'needs an ACE model.*no module of Module'):
        build(plain)

    model = ToyACE(CIFAR10_LT_COUNTS, num_experts=5)
    with pytest.raises(ValueError, match='no parameter'):
        build(model, paramwise_cfg=dict(expert_prefixes=['branches']))

    # More expert modules than the head has shares for.
    model.backbone.experts.append(nn.Conv2d(4, 4, 1))
    with pytest.raises(ValueError, match='expert 6'):
        build(model)
