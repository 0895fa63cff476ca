"""What mmace's two BasicBlock ResNets (CIFARResNet, ResNet10) share: the
architecture they promise (stage shapes, strides, parameter counts from
the block formula) and how they train (gradients reach the stem, frozen
stages stay frozen, batch norm in train and eval mode)."""
import pytest
import torch
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from mmace.models.backbones import CIFARResNet, ResNet10


def _num_params(module):
    return sum(p.numel() for p in module.parameters())


def _block_params(cin, cout, stride):
    """Two 3x3 convs (no bias) + two BNs; a 1x1 conv + BN projection when
    the shape changes."""
    n = 9 * cin * cout + 2 * cout + 9 * cout * cout + 2 * cout
    if stride != 1 or cin != cout:
        n += cin * cout + 2 * cout
    return n


def _resnet_params(stem_kernel, stem, channels, blocks, strides):
    n = 3 * stem * stem_kernel**2 + 2 * stem
    cin = stem
    for cout, num, stride in zip(channels, blocks, strides):
        for i in range(num):
            n += _block_params(cin, cout, stride if i == 0 else 1)
            cin = cout
    return n


# (backbone, input size, per-stage channels, per-stage output stride,
#  stem kernel, blocks per stage)
ARCHS = {
    'cifar_resnet20': (dict(type='CIFARResNet', depth=20), 32,
                       (16, 32, 64), (1, 2, 4), 3, (3, 3, 3)),
    'cifar_resnet32': (dict(type='CIFARResNet', depth=32), 32,
                       (16, 32, 64), (1, 2, 4), 3, (5, 5, 5)),
    'cifar_resnet110': (dict(type='CIFARResNet', depth=110), 32,
                        (16, 32, 64), (1, 2, 4), 3, (18, 18, 18)),
    'resnet10': (dict(type='ResNet10'), 64, (64, 128, 256, 512),
                 (4, 8, 16, 32), 7, (1, 1, 1, 1)),
    'resnet10_depth18': (dict(type='ResNet10', depth=18), 64,
                         (64, 128, 256, 512), (4, 8, 16, 32), 7,
                         (2, 2, 2, 2)),
}
# The cheap ones, for the training checks.
TRAIN = ['cifar_resnet20', 'resnet10']


def _build(name, **kwargs):
    cfg, size, channels, *_ = ARCHS[name]
    return MODELS.build(dict(cfg, **kwargs)), size, channels


@pytest.mark.parametrize('name', list(ARCHS))
def test_every_stage_has_its_channels_and_stride(name):
    cfg, size, channels, reductions, _, blocks = ARCHS[name]
    stages = tuple(range(len(channels)))
    model = MODELS.build(dict(cfg, out_indices=stages))
    model.eval()  # mmpretrain's ResNet.train() returns None
    with torch.no_grad():
        outs = model(torch.rand(2, 3, size, size))
    assert [tuple(o.shape) for o in outs] == [
        (2, c, size // r, size // r) for c, r in zip(channels, reductions)]
    for i, layer_name in enumerate(model.res_layers):
        assert len(getattr(model, layer_name)) == blocks[i]


@pytest.mark.parametrize('name', list(ARCHS))
def test_parameter_count_is_the_architectures(name):
    cfg, _, channels, reductions, stem_kernel, blocks = ARCHS[name]
    # Stage strides from the output strides (the ImageNet stem divides by 4).
    strides = [reductions[0] if stem_kernel == 3 else 1] + [
        b // a for a, b in zip(reductions, reductions[1:])]
    stem = channels[0]
    assert _num_params(MODELS.build(cfg)) == _resnet_params(
        stem_kernel, stem, channels, blocks, strides)


def test_parameter_counts_of_the_papers():
    # He et al.'s ResNet-32 "0.46M" (with a 10-way classifier) and the
    # ResNet-10 of the ImageNet-LT papers (4.9M without the classifier).
    resnet32 = _num_params(CIFARResNet(depth=32)) + 64 * 10 + 10
    assert resnet32 == pytest.approx(0.46e6, rel=0.02)
    assert _num_params(ResNet10()) == pytest.approx(4.9e6, rel=0.01)


def _classifier(backbone, in_channels):
    model = MODELS.build(
        dict(
            type='ImageClassifier',
            backbone=backbone,
            neck=dict(type='GlobalAveragePooling'),
            head=dict(
                type='LinearClsHead',
                num_classes=10,
                in_channels=in_channels,
                loss=dict(type='CrossEntropyLoss'))))
    model.init_weights()
    return model


def _batch(size, n=4):
    torch.manual_seed(0)
    inputs = torch.rand(n, 3, size, size)
    samples = [DataSample().set_gt_label(i % 10) for i in range(n)]
    return inputs, samples


@pytest.mark.parametrize('name', TRAIN)
def test_training_steps_reach_the_stem_and_lower_the_loss(name):
    cfg, size, channels, *_ = ARCHS[name]
    torch.manual_seed(0)
    model = _classifier(cfg, channels[-1]).train()
    inputs, samples = _batch(size)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    losses = []
    for step in range(5):
        optimizer.zero_grad()
        loss = model(inputs, samples, mode='loss')['loss']
        loss.backward()
        if step == 0:
            # Through every stage (their last BNs start at zero, so only
            # the shortcuts carry it at first) to the first conv.
            grad = model.backbone.conv1.weight.grad
            assert grad is not None and grad.abs().sum() > 0
        losses.append(loss.item())
        optimizer.step()
    assert losses[-1] < losses[0]


@pytest.mark.parametrize('name', TRAIN)
def test_batch_norm_uses_batch_statistics_only_in_training(name):
    model, size, _ = _build(name)
    inputs, _ = _batch(size)
    bn = model.norm1
    before = bn.running_mean.clone()
    model.train()
    with torch.no_grad():
        alone = model(inputs[:1])[0]
        together = model(inputs)[0][:1]
    # Train mode: batch statistics, so the other images change the output,
    # and the running statistics move.
    assert not torch.allclose(alone, together)
    assert not torch.equal(bn.running_mean, before)
    model.eval()
    running = bn.running_mean.clone()
    with torch.no_grad():
        alone = model(inputs[:1])[0]
        together = model(inputs)[0][:1]
    # Eval mode: running statistics, each image on its own, nothing moves.
    torch.testing.assert_close(alone, together, rtol=1e-4, atol=1e-5)
    assert torch.equal(bn.running_mean, running)


@pytest.mark.parametrize('name', TRAIN)
def test_frozen_stages_do_not_change_in_training(name):
    model, size, channels = _build(name, frozen_stages=1)
    classifier = _classifier(model, channels[-1])
    backbone = classifier.backbone
    frozen = [backbone.conv1, backbone.norm1, backbone.layer1]
    snapshot = [{k: v.clone() for k, v in m.state_dict().items()}
                for m in frozen + [backbone.layer2]]
    classifier.train()
    assert not backbone.norm1.training
    assert not backbone.layer1[0].norm1.training
    assert backbone.layer2.training
    optimizer = torch.optim.SGD(
        [p for p in classifier.parameters() if p.requires_grad], lr=0.1)
    inputs, samples = _batch(size)
    for _ in range(2):
        optimizer.zero_grad()
        classifier(inputs, samples, mode='loss')['loss'].backward()
        optimizer.step()
    for module, before in zip(frozen, snapshot):
        assert all(not p.requires_grad for p in module.parameters())
        # Weights and batch-norm statistics alike.
        for key, value in module.state_dict().items():
            assert torch.equal(value, before[key]), key
    changed = backbone.layer2.state_dict()
    assert any(not torch.equal(changed[k], v) for k, v in snapshot[-1].items())


@pytest.mark.parametrize('name', TRAIN)
def test_norm_eval_keeps_the_running_statistics(name):
    model, size, _ = _build(name, norm_eval=True)
    model.train()
    bns = [m for m in model.modules()
           if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    assert bns and not any(m.training for m in bns)
    before = [m.running_var.clone() for m in bns]
    inputs, _ = _batch(size)
    model(inputs)
    assert all(torch.equal(m.running_var, b) for m, b in zip(bns, before))


@pytest.mark.parametrize('name', TRAIN)
def test_prediction_scores_are_distributions(name):
    cfg, size, channels, *_ = ARCHS[name]
    model = _classifier(cfg, channels[-1]).eval()
    inputs, samples = _batch(size, n=2)
    with torch.no_grad():
        preds = model(inputs, samples, mode='predict')
    assert len(preds) == 2
    for pred in preds:
        assert pred.pred_score.shape == (10, )
        assert pred.pred_score.sum().item() == pytest.approx(1., abs=1e-5)
        assert pred.pred_label.item() == pred.pred_score.argmax().item()
