"""mmace's ACE equals the plain-PyTorch ACE of ``mmace.testing``.

The reference follows the paper in the most direct form (sub-batches
gathered, one expert at a time, only torch): same weights must give the same
loss (hard and Mixup labels), the same Eq. 2/3 logits and the same SGD step
with Eq. 7 learning rates.
"""
import ast
import copy

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from mmace.models.ace import expert_shares
from mmace.testing import build_plain, plain_optimizer, plain_step

from conftest import REPO

COUNTS = [500, 300, 180, 100, 60, 40, 20, 12, 8, 5]
SGD = dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=2e-4)


@pytest.fixture(scope='module')
def models():
    torch.manual_seed(0)
    cfg = Config.fromfile(REPO / 'configs/_base_/models/ace_resnet32_cifar.py')
    cfg.model.head.class_counts = COUNTS
    ace = MODELS.build(cfg.model)
    ace.init_weights()
    return ace, build_plain(ace)


def batch(soft):
    g = torch.Generator().manual_seed(1)
    inputs = torch.randn(8, 3, 32, 32, generator=g)
    labels = torch.tensor([0, 0, 1, 2, 4, 6, 8, 9])
    if soft:  # a Mixup pair: lam * a + (1 - lam) * b
        lam = 0.7
        scores = lam * torch.nn.functional.one_hot(labels, 10).float() + \
            (1 - lam) * torch.nn.functional.one_hot(labels.flip(0), 10)
        samples = [DataSample().set_gt_score(s) for s in scores]
        return inputs, samples, scores
    samples = [DataSample().set_gt_label(int(y)) for y in labels]
    return inputs, samples, labels


@pytest.mark.parametrize('soft', [False, True], ids=['hard', 'mixup'])
def test_same_loss(models, soft):
    ace, plain = (copy.deepcopy(m).train() for m in models)
    inputs, samples, targets = batch(soft)
    loss, _ = ace.parse_losses(ace(inputs, samples, mode='loss'))
    assert loss.item() == pytest.approx(
        plain.loss(inputs, targets).item(), rel=1e-5)


def test_same_aggregated_logits(models):
    ace, plain = (copy.deepcopy(m).eval() for m in models)
    inputs, _, _ = batch(False)
    with torch.no_grad():
        assert torch.allclose(ace(inputs, mode='tensor'), plain(inputs),
                              atol=1e-5)


def test_same_sgd_step_with_eq7_learning_rates(models):
    init_default_scope('mmpretrain')  # mmace's optimizer constructor
    ace, plain = (copy.deepcopy(m).train() for m in models)
    inputs, samples, targets = batch(False)
    wrapper = build_optim_wrapper(
        ace, dict(constructor='ACEOptimWrapperConstructor', optimizer=SGD))
    ace.train_step(dict(inputs=inputs, data_samples=samples), wrapper)
    shares = expert_shares(torch.tensor(COUNTS), ace.head.target_masks)
    plain_step(plain, plain_optimizer(plain, shares, SGD['lr'],
                                      SGD['momentum'], SGD['weight_decay']),
               inputs, targets)
    after = dict(plain.named_parameters())
    for name, param in ace.named_parameters():
        assert torch.allclose(param, after[name], atol=1e-5), name


def test_plain_reference_calls_no_mm_code():
    """The reference's step is plain torch: no mm* name in its source."""
    tree = ast.parse((REPO / 'mmace/testing/plain_ace.py').read_text())
    plain = {'PlainBlock', 'plain_stage', 'PlainTrunk', 'PlainBackbone',
             'PlainLWS', 'PlainHead', 'PlainACE', 'plain_optimizer',
             'plain_step'}
    found = set()
    for node in tree.body:
        if getattr(node, 'name', None) in plain:
            found.add(node.name)
            names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
            names |= {n.attr for n in ast.walk(node)
                      if isinstance(n, ast.Attribute)}
            mm = sorted(n for n in names if n.lower().startswith('mm'))
            assert not mm, (node.name, mm)
    assert found == plain
