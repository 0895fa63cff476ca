"""Framework-neutral ACE math (mmace/models/utils/ace.py), checked by hand.

The module is loaded from its file so that these tests need torch only.
"""
import ast
import importlib.util
import math

import numpy as np
import pytest
import torch
import torch.nn as nn

from conftest import REPO

ACE_PY = REPO / 'mmace/models/utils/ace.py'
_spec = importlib.util.spec_from_file_location('ace_core', ACE_PY)
ace = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ace)


def targets_of(masks):
    """Target class indices of each expert, as lists."""
    return [torch.nonzero(m).flatten().tolist() for m in masks]


def test_only_torch_is_imported():
    tree = ast.parse(ACE_PY.read_text())
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {a.name.split('.')[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            roots.add(node.module.split('.')[0])
    assert roots <= {'torch', 'typing', 'math'}, roots


# --------------------------------------------------------------- planner
def test_planner_c10_k3():
    # Index order is frequency order here: ranks == class indices.
    counts = [100, 80, 60, 50, 40, 30, 20, 10, 5, 1]
    masks = ace.plan_target_masks(counts, 3)
    assert masks.dtype == torch.bool and masks.shape == (3, 10)
    # Experts start at ranks floor(i * 10 / 3) = 0, 3, 6.
    assert targets_of(masks) == [
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        [3, 4, 5, 6, 7, 8, 9],
        [6, 7, 8, 9],
    ]


@pytest.mark.parametrize('num_experts, starts', [(3, [0, 33, 66]),
                                                 (4, [0, 25, 50, 75])])
def test_planner_c100(num_experts, starts):
    counts = np.linspace(500, 5, 100).round().astype(np.int64)  # descending
    masks = ace.plan_target_masks(counts, num_experts)
    assert targets_of(masks) == [list(range(s, 100)) for s in starts]


def cifar_lt_counts(num_classes, imb_factor):
    """Cao et al.'s CIFAR-LT profile: n_i = n_max * (1/imb)^(i / (C-1))."""
    n_max = 50000 // num_classes
    return [int(n_max * (1 / imb_factor)**(i / (num_classes - 1)))
            for i in range(num_classes)]


@pytest.mark.parametrize('num_classes, imb, thresholds, starts', [
    # The released configs: CIFAR-100-LT-100 [0.3, 0.03] -> 25 and 68
    # (Eq. 1 gives 33 and 66), CIFAR-10-LT-100 [0.3, 0.05] -> 2 and 5,
    # CIFAR-100-LT-50 [0.4, 0.1] -> 22 and 53.
    (100, 100, [0.3, 0.03], [0, 25, 68]),
    (10, 100, [0.3, 0.05], [0, 2, 5]),
    (100, 50, [0.4, 0.1], [0, 22, 53]),
])
def test_share_planner_on_cifar_lt(num_classes, imb, thresholds, starts):
    counts = cifar_lt_counts(num_classes, imb)
    masks = ace.plan_target_masks(counts, 3, 'share', thresholds)
    assert targets_of(masks) == [list(range(s, num_classes)) for s in starts]


def test_share_planner_by_hand():
    # Counts 6, 3, 1: shares of ranks j.. are 1, 0.4, 0.1. Threshold 0.3:
    # the last rank above it is 1 (0.4 > 0.3 >= 0.1).
    assert targets_of(ace.plan_target_masks([6, 3, 1], 2, 'share',
                                            [0.3])) == [[0, 1, 2], [1, 2]]
    # 0.4 itself is not above 0.4: the expert starts at rank 0 -> refused.
    with pytest.raises(ValueError, match='no classes of its own'):
        ace.plan_target_masks([6, 3, 1], 2, 'share', [0.4])
    # Ranks follow the counts, not the class indices.
    assert targets_of(ace.plan_target_masks([1, 6, 3], 2, 'share',
                                            [0.3])) == [[0, 1, 2], [0, 2]]
    with pytest.raises(ValueError, match='num_experts - 1 = 2'):
        ace.plan_target_masks([6, 3, 1], 3, 'share', [0.3])
    with pytest.raises(ValueError, match='strictly decreasing'):
        ace.plan_target_masks([6, 3, 1, 1], 3, 'share', [0.1, 0.3])
    with pytest.raises(ValueError, match="'classes', 'share'"):
        ace.plan_target_masks([6, 3, 1], 2, 'quantile')


def test_planner_uses_counts_not_index_order():
    # Rank by count: c2(9) c8(8) c5(7) | c0(5) c9(4) c1(3) | c6 c7 (2, 2)
    # c3 c4 (1, 1); ties keep index order.
    counts = torch.tensor([5, 3, 9, 1, 1, 7, 2, 2, 8, 4])
    masks = ace.plan_target_masks(counts, 3)
    assert targets_of(masks) == [
        list(range(10)),
        [0, 1, 3, 4, 6, 7, 9],  # all but the 3 most frequent: 2, 8, 5
        [3, 4, 6, 7],  # ranks 6..9: c6, c7, c3, c4
    ]


def test_planner_ties_and_edge_k():
    # All equal: the stable sort ranks by class index.
    assert targets_of(ace.plan_target_masks([5] * 6, 3)) == [
        [0, 1, 2, 3, 4, 5], [2, 3, 4, 5], [4, 5]]
    assert ace.plan_target_masks([3, 1, 2], 1).all()
    # K == C: expert i targets the C - i rarest classes.
    assert targets_of(ace.plan_target_masks([3, 1, 2], 3)) == [
        [0, 1, 2], [1, 2], [1]]
    # C not a multiple of K: starts floor(i * 7 / 3) = 0, 2, 4.
    assert ace.plan_target_masks(list(range(7, 0, -1)), 3).sum(1).tolist() \
        == [7, 5, 3]


@pytest.mark.parametrize('num_experts', [0, 11])
def test_planner_bad_num_experts(num_experts):
    with pytest.raises(ValueError, match=r'num_experts.*C=10'):
        ace.plan_target_masks(list(range(10)), num_experts)


def test_shares_and_lr_scales():
    counts = [50, 30, 15, 5]
    masks = ace.plan_target_masks(counts, 3)  # starts 0, 1, 2
    shares = ace.expert_shares(counts, masks)
    # (50+30+15+5)/100, (30+15+5)/100, (15+5)/100
    assert torch.allclose(shares, torch.tensor([1.0, 0.5, 0.2]))
    assert torch.allclose(
        ace.lr_scales(shares, 'linear'), torch.tensor([1.0, 0.5, 0.2]))
    assert torch.allclose(
        ace.lr_scales(shares, 'sqrt'),
        torch.tensor([1.0, math.sqrt(0.5), math.sqrt(0.2)]))
    assert torch.equal(ace.lr_scales(shares, 'uniform'), torch.ones(3))
    with pytest.raises(ValueError, match="linear.*sqrt.*uniform"):
        ace.lr_scales(shares, 'cosine')


# ---------------------------------------------- rescale and aggregation
# K=2, C=3: counts [3, 2, 1] -> expert 1 targets {0, 1, 2}, expert 2 {1, 2}.
MASKS2 = torch.tensor([[True, True, True], [False, True, True]])
W = torch.tensor([
    [[1., 0.], [0., 1.], [1., 1.]],  # ||w1||^2 = 1 + 1 + 2 = 4
    [[3., 0.], [1., 1.], [0., 2.]],  # rows 1, 2: 2 + 4 = 6; all: 9 + 6 = 15
])
Z1 = torch.tensor([[1., 2., 3.]])
Z2 = torch.tensor([[10., 4., -2.]])  # class 0 is interfering for expert 2


def test_rescale_factors_plain_norm_over_target_rows_is_the_default():
    assert torch.equal(ace.plan_target_masks([3, 2, 1], 2), MASKS2)
    # Target rows: ||w1||^2 = 4 (all 3 rows), ||w2||^2 = 2 + 4 = 6.
    f = ace.rescale_factors(W, MASKS2)
    assert torch.allclose(f, torch.tensor([1.0, math.sqrt(6 / 4)]))
    f = ace.rescale_factors(W, MASKS2, power=2, reduce='sum')  # 6 / 4
    assert torch.allclose(f, torch.tensor([1.0, 1.5]))
    f = ace.rescale_factors(list(W), MASKS2, power=2, norm_over='all',
                            reduce='sum')
    assert torch.allclose(f, torch.tensor([1.0, 3.75]))  # 15 / 4


def test_rescale_factors_per_class_mean():
    # Squared row norms: expert 1 [1, 1, 2] (mean 4/3 over its 3 targets),
    # expert 2 [2, 4] on its 2 targets (mean 3): 3 / (4/3) = 9/4.
    f = ace.rescale_factors(W, MASKS2, power=2, reduce='mean')
    assert torch.allclose(f, torch.tensor([1.0, 9 / 4]))
    # Plain row norms: (1 + 1 + sqrt2) / 3 vs (sqrt2 + 2) / 2 -> 3/2.
    f = ace.rescale_factors(W, MASKS2, power=1, reduce='mean')
    assert torch.allclose(f, torch.tensor([1.0, 1.5]))
    # Over all rows the mean ratio is the sum ratio: 15 / 4.
    f = ace.rescale_factors(W, MASKS2, power=2, norm_over='all',
                            reduce='mean')
    assert torch.allclose(f, torch.tensor([1.0, 3.75]))
    # Same weights in both experts: the sum shrinks expert 2 for the row it
    # lacks ((1 + 2) / 4); the mean compares the rows it has (1.5 / (4/3)).
    same = torch.stack([W[0], W[0]])
    assert torch.allclose(
        ace.rescale_factors(same, MASKS2, power=2, reduce='mean'),
        torch.tensor([1.0, 1.5 / (4 / 3)]))
    assert torch.allclose(
        ace.rescale_factors(same, MASKS2, power=2, reduce='sum'),
        torch.tensor([1.0, 3 / 4]))


def test_rescale_factors_inverse_is_the_released_code_reading():
    # The released valid_model: mean plain row norm of expert 1 (all rows)
    # over that of expert 2 on its target rows. Plain row norms: expert 1
    # [1, 1, sqrt2] -> (2 + sqrt2) / 3, expert 2 rows 1, 2 [sqrt2, 2] ->
    # (sqrt2 + 2) / 2: factor ((2 + sqrt2) / 3) / ((2 + sqrt2) / 2) = 2/3.
    f = ace.rescale_factors(W, MASKS2, power=1, reduce='mean', inverse=True)
    assert torch.allclose(f, torch.tensor([1.0, 2 / 3]))
    # The reciprocal of the printed direction, for every reading.
    for power, reduce in ((1, 'sum'), (2, 'sum'), (2, 'mean')):
        direct = ace.rescale_factors(W, MASKS2, power=power, reduce=reduce)
        inverse = ace.rescale_factors(W, MASKS2, power=power, reduce=reduce,
                                      inverse=True)
        assert torch.allclose(inverse, 1 / direct)


def test_rescale_factors_edge_cases():
    for reduce in ('mean', 'sum'):
        assert torch.equal(
            ace.rescale_factors(W, MASKS2, power=0, reduce=reduce),
            torch.ones(2))
        # 1x1 conv weights [K, C, D, 1, 1] are flattened.
        assert torch.allclose(
            ace.rescale_factors(W[..., None, None], MASKS2, reduce=reduce),
            ace.rescale_factors(W, MASKS2, reduce=reduce))
    with pytest.raises(ValueError, match='target'):
        ace.rescale_factors(W, MASKS2, norm_over='rows')
    with pytest.raises(ValueError, match="'mean', 'sum'"):
        ace.rescale_factors(W, MASKS2, reduce='max')


@pytest.mark.parametrize('mode, factors, expected', [
    # z_hat2 = 1.5 * [10, 4, -2] = [15, 6, -3]; class 0 only from expert 1.
    ('avg', [1.0, 1.5], [1., (2 + 6) / 2, (3 - 3) / 2]),  # Eq. 3 (ACE)
    ('avg', None, [1., (2 + 4) / 2, (3 - 2) / 2]),  # Table 7 (4)
    ('max', [1.0, 1.5], [1., max(2, 6), max(3, -3)]),  # Table 7 (2)
    # Table 7 (3): class 0 owned by expert 1, classes 1, 2 by expert 2.
    ('concat', [1.0, 1.5], [1., 6., -3.]),
    ('concat', None, [1., 4., -2.]),
])
def test_aggregate_by_hand(mode, factors, expected):
    f = None if factors is None else torch.tensor(factors)
    o = ace.aggregate_logits([Z1, Z2], MASKS2, f, mode=mode)
    assert torch.allclose(o, torch.tensor([expected]))


def test_aggregate_three_experts():
    # counts [3, 2, 1], K=3: targets {0,1,2}, {1,2}, {2}.
    masks = ace.plan_target_masks([3, 2, 1], 3)
    z = [torch.tensor([[1., 2., 3.]]), torch.tensor([[9., 4., 6.]]),
         torch.tensor([[9., 9., 12.]])]
    # avg: [1, (2+4)/2, (3+6+12)/3]
    assert torch.allclose(
        ace.aggregate_logits(z, masks), torch.tensor([[1., 3., 7.]]))
    # concat: c0 <- e1, c1 <- e2, c2 <- e3
    assert torch.allclose(
        ace.aggregate_logits(z, masks, mode='concat'),
        torch.tensor([[1., 4., 12.]]))
    with pytest.raises(ValueError, match='avg'):
        ace.aggregate_logits(z, masks, mode='sum')
    with pytest.raises(ValueError, match='masks'):
        ace.aggregate_logits(z, MASKS2)


def test_aggregate_class_dim_last():
    o = ace.aggregate_logits([Z1[:, None], Z2[:, None]], MASKS2,
                             torch.tensor([1.0, 1.5]), class_dim=-1)
    assert torch.allclose(o, torch.tensor([[[1., 4., 0.]]]))


def test_expert_probs():
    p = ace.expert_probs([Z1, Z2], MASKS2)
    assert p.shape == (2, 1, 3)
    assert torch.allclose(p[0], Z1.softmax(1))
    # Expert 2: softmax over classes 1, 2 of [4, -2]; 0 on class 0.
    e = math.exp(-6)
    assert torch.allclose(p[1], torch.tensor([[0., 1 / (1 + e), e / (1 + e)]]))


# ------------------------------------------------------------- losses
# Expert 1 gives all-zero logits: log_softmax = -log 3 on every class.
LOG3 = math.log(3)


def _logits():
    z1 = torch.zeros(3, 3, requires_grad=True)
    z2 = torch.tensor([[5., 1., 1.], [1., 0., 0.], [2., 0., 0.]],
                      requires_grad=True)
    return z1, z2


def test_ace_losses_hard_by_hand():
    z1, z2 = _logits()
    labels = torch.tensor([0, 1, 2])  # sample 0 is outside C_2 = {1, 2}
    out = ace.ace_losses([z1, z2], labels, MASKS2)
    assert torch.allclose(out['size'], torch.tensor([3., 2.]))
    # Expert 1: CE = log 3 for every sample; no interfering class.
    # Expert 2 on its sub-batch {1, 2}:
    #   sample 1, logits [1, 0, 0], label 1: CE = log(e + 2) - 0
    #   sample 2, logits [2, 0, 0], label 2: CE = log(e^2 + 2) - 0
    #   complement: class 0 logits 1^2 and 2^2 -> (1 + 4) / 2
    e = math.e
    cls2 = (math.log(e + 2) + math.log(e**2 + 2)) / 2
    assert torch.allclose(out['cls'], torch.tensor([LOG3, cls2]))
    assert torch.allclose(out['com'], torch.tensor([0., 2.5]))
    # Same numbers from the one-hot (soft) form of the labels.
    soft = ace.ace_losses([z1, z2], nn.functional.one_hot(labels, 3).float(),
                          MASKS2)
    for key in ('cls', 'com', 'size'):
        assert torch.allclose(soft[key], out[key])


def test_complement_norm_form_by_hand():
    # The released ResCELoss term: ||Z_2[B_2, IC_2]||_F / |IC_2| with
    # B_2 = samples {1, 2} and IC_2 = {class 0}: sqrt(1^2 + 2^2) / 1.
    z1, z2 = _logits()
    labels = torch.tensor([0, 1, 2])
    out = ace.ace_losses([z1, z2], labels, MASKS2, complement_form='norm')
    assert torch.allclose(out['com'], torch.tensor([0., math.sqrt(5)]))
    # The classification term is the same as with the printed form.
    printed = ace.ace_losses([z1, z2], labels, MASKS2)
    assert torch.allclose(out['cls'], printed['cls'])
    # Two interfering classes divide by 2: expert 2 of 3 targets class 2
    # only; its sub-batch is sample 2 with interfering logits [2, 0].
    masks = torch.tensor([[True, True, True], [False, False, True]])
    out = ace.ace_losses([z1, z2], labels, masks, complement_form='norm')
    assert torch.allclose(out['com'], torch.tensor([0., 2 / 2]))
    out['com'].sum().backward()
    assert torch.isfinite(z2.grad).all()
    with pytest.raises(ValueError, match="'squared', 'norm'"):
        ace.ace_losses([z1, z2], labels, MASKS2, complement_form='frob')


def test_complement_norm_form_empty_sub_batch_is_zero_with_finite_grads():
    z1, z2 = _logits()
    out = ace.ace_losses([z1, z2], torch.tensor([0, 0, 0]), MASKS2,
                         complement_form='norm')
    assert torch.equal(out['com'], torch.zeros(2))
    (out['cls'].sum() + out['com'].sum()).backward()
    assert torch.isfinite(z2.grad).all()


def test_split_specific_by_hand():
    z1, z2 = _logits()
    out = ace.ace_losses([z1, z2], torch.tensor([0, 1, 2]), MASKS2,
                         split_specific=True)
    # Expert 2's softmax covers classes 1, 2 only: logits [0, 0] -> log 2.
    assert torch.allclose(out['cls'], torch.tensor([LOG3, math.log(2)]))
    assert torch.equal(out['com'], torch.zeros(2))
    out['cls'].sum().backward()
    assert torch.isfinite(z2.grad).all()
    assert torch.equal(z2.grad[:, 0], torch.zeros(3))  # interfering: no grad


def test_empty_sub_batch_is_zero_with_finite_grads():
    z1, z2 = _logits()
    labels = torch.tensor([0, 0, 0])  # nobody in C_2
    for split_specific in (False, True):
        out = ace.ace_losses([z1, z2], labels, MASKS2,
                             split_specific=split_specific)
        assert out['cls'][1].item() == 0.0 and out['com'][1].item() == 0.0
        assert out['size'][1].item() == 0.0
    out = ace.ace_losses([z1, z2], labels, MASKS2)
    (out['cls'] + out['com']).sum().backward()
    # The graph still reaches expert 2 (DDP), with an all-zero gradient.
    assert z2.grad is not None and torch.equal(z2.grad, torch.zeros(3, 3))
    assert torch.isfinite(z1.grad).all() and z1.grad.abs().sum() > 0


def test_mixup_membership():
    z1, z2 = _logits()
    lam = 0.7
    # Sample 0 mixes class 2 (in C_2) with weight lam and class 0 (not in
    # C_2) with 1 - lam; samples 1, 2 are plain labels 1 and 2.
    y = torch.tensor([[1 - lam, 0., lam], [0., 1., 0.], [0., 0., 1.]])
    out = ace.ace_losses([z1, z2], y, MASKS2)
    assert torch.allclose(out['size'], torch.tensor([3., lam + 2]))
    logp2 = z2.detach().log_softmax(1)
    # Expert 2: sample 0 counts lam * CE(label 2); class 0's mass is dropped.
    ce = [-lam * logp2[0, 2], -logp2[1, 1], -logp2[2, 2]]
    assert torch.allclose(out['cls'][1], sum(ce) / (lam + 2))
    # Complement: sample 0 weighs its class-0 logit^2 (25) by lam.
    assert torch.allclose(out['com'][1],
                          torch.tensor((lam * 25 + 1 + 4) / (lam + 2)))
    # Expert 1 targets everything: plain soft CE, membership 1 each.
    assert torch.allclose(out['cls'][0], torch.tensor(LOG3))


def test_single_mixup_sample_membership_is_lam():
    z1, z2 = _logits()
    y = torch.tensor([[0.25, 0., 0.75]])  # 0.75 on class 2, 0.25 on class 0
    out = ace.ace_losses([z1[:1], z2[:1]], y, MASKS2)
    assert torch.allclose(out['size'], torch.tensor([1.0, 0.75]))
    # Divided by the membership: the CE of label 2 alone, and 5^2.
    assert torch.allclose(out['cls'][1], -z2[0].detach().log_softmax(0)[2])
    assert torch.allclose(out['com'][1], torch.tensor(25.))


def test_bad_targets():
    z1, z2 = _logits()
    with pytest.raises(ValueError, match='targets'):
        ace.ace_losses([z1, z2], torch.zeros(3, 3, 1), MASKS2)
    with pytest.raises(ValueError, match='masks'):
        ace.ace_losses([z1, z2], torch.tensor([0, 1, 2]), MASKS2[:1])


# ------------------------------------------------------- dense logits
def test_dense_per_pixel_heads():
    """A per-pixel ACE 'head': one 1x1 conv per expert on [N, D, H, W]."""
    torch.manual_seed(0)
    n, d, h, w, c, k = 2, 4, 3, 5, 6, 3
    masks = ace.plan_target_masks([60, 50, 40, 30, 20, 10], k)
    convs = nn.ModuleList(nn.Conv2d(d, c, 1) for _ in range(k))
    feats = torch.randn(n, d, h, w)
    labels = torch.randint(0, c, (n, h, w))
    labels[0, 0] = 255  # an ignored row of pixels
    logits = [conv(feats) for conv in convs]  # K x [N, C, H, W]

    out = ace.ace_losses(logits, labels, masks, ignore_index=255)
    # Same as flattening the pixels to rows and dropping the ignored ones.
    keep = labels.flatten() != 255
    rows = [z.permute(0, 2, 3, 1).reshape(-1, c)[keep] for z in logits]
    ref = ace.ace_losses(rows, labels.flatten()[keep], masks)
    for key in ('cls', 'com', 'size'):
        assert torch.allclose(out[key], ref[key])
    assert out['size'][0].item() == n * h * w - w
    (out['cls'] + out['com']).sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in convs.parameters())

    weights = torch.stack([conv.weight for conv in convs])  # [K, C, D, 1, 1]
    f = ace.rescale_factors(weights.detach(), masks)
    o = ace.aggregate_logits(logits, masks, f)
    assert o.shape == (n, c, h, w)
    ref = ace.aggregate_logits(
        [z.permute(0, 2, 3, 1).reshape(-1, c) for z in logits], masks, f)
    assert torch.allclose(o.permute(0, 2, 3, 1).reshape(-1, c), ref)
    p = ace.expert_probs(logits, masks)
    assert p.shape == (k, n, c, h, w)
    assert torch.allclose(p.sum(2), torch.ones(k, n, h, w))


def test_gated_aggregation_keeps_expert1_mass_outside_shared_classes():
    # T = {2, 3} (targeted by experts 2 and 3 too); expert 1 keeps p1(0),
    # p1(1); the Eq. 3 average redistributes p1(T) = p1(2) + p1(3) in T.
    masks = torch.tensor([[1, 1, 1, 1], [0, 0, 1, 1], [0, 0, 0, 1]],
                         dtype=torch.bool)
    z = [torch.tensor([[2., 1., 0., -1.]]), torch.tensor([[0., 0., 1., 3.]]),
         torch.tensor([[0., 0., 0., 2.]])]
    p1 = torch.softmax(z[0], dim=1)[0]
    q = torch.softmax(torch.tensor([(0. + 1.) / 2, (-1. + 3. + 2.) / 3]), 0)
    expected = torch.stack(
        [p1[0], p1[1], p1[2:].sum() * q[0], p1[2:].sum() * q[1]])
    out = ace.aggregate_logits(z, masks, mode='gated')
    torch.testing.assert_close(out.exp()[0], expected)
    # Dense logits: the same rule at every pixel.
    dense = [x.view(1, 4, 1, 1).expand(2, 4, 3, 3) for x in z]
    torch.testing.assert_close(
        ace.aggregate_logits(dense, masks, mode='gated')[:, :, 1, 2],
        out.expand(2, 4))
    # One expert: expert 1's log-probabilities.
    torch.testing.assert_close(
        ace.aggregate_logits(z[:1], masks[:1], mode='gated'),
        z[0].log_softmax(dim=1))
