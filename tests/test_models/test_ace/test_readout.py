"""ACE read-out (mmace/models/ace/readout.py): Eq. 2, Eq. 3, by hand.

The modules are loaded from their files so that these tests need torch only.
"""
import importlib.util
import math

import pytest
import torch

from conftest import REPO


def _load(name):
    spec = importlib.util.spec_from_file_location(
        f'ace_{name}', REPO / f'mmace/models/ace/{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


planner, readout = _load('planner'), _load('readout')


class ace:  # noqa: N801 -- the two modules under one name, as in the docs
    plan_target_masks = staticmethod(planner.plan_target_masks)
    rescale_factors = staticmethod(readout.rescale_factors)
    aggregate_logits = staticmethod(readout.aggregate_logits)
    expert_probs = staticmethod(readout.expert_probs)


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
    # 6 / 4
    f = ace.rescale_factors(W, MASKS2, rescale='squared', norm_reduce='sum')
    assert torch.allclose(f, torch.tensor([1.0, 1.5]))
    f = ace.rescale_factors(list(W), MASKS2, rescale='squared',
                            norm_over='all', norm_reduce='sum')
    assert torch.allclose(f, torch.tensor([1.0, 3.75]))  # 15 / 4


def test_rescale_factors_per_class_mean():
    # Squared row norms: expert 1 [1, 1, 2] (mean 4/3 over its 3 targets),
    # expert 2 [2, 4] on its 2 targets (mean 3): 3 / (4/3) = 9/4.
    f = ace.rescale_factors(W, MASKS2, rescale='squared', norm_reduce='mean')
    assert torch.allclose(f, torch.tensor([1.0, 9 / 4]))
    # Plain row norms: (1 + 1 + sqrt2) / 3 vs (sqrt2 + 2) / 2 -> 3/2.
    f = ace.rescale_factors(W, MASKS2, rescale='plain', norm_reduce='mean')
    assert torch.allclose(f, torch.tensor([1.0, 1.5]))
    # Over all rows the mean ratio is the sum ratio: 15 / 4.
    f = ace.rescale_factors(W, MASKS2, rescale='squared',
                            norm_over='all', norm_reduce='mean')
    assert torch.allclose(f, torch.tensor([1.0, 3.75]))
    # Same weights in both experts: the sum shrinks expert 2 for the row it
    # lacks ((1 + 2) / 4); the mean compares the rows it has (1.5 / (4/3)).
    same = torch.stack([W[0], W[0]])
    assert torch.allclose(
        ace.rescale_factors(same, MASKS2, rescale='squared',
                            norm_reduce='mean'),
        torch.tensor([1.0, 1.5 / (4 / 3)]))
    assert torch.allclose(
        ace.rescale_factors(same, MASKS2, rescale='squared',
                            norm_reduce='sum'),
        torch.tensor([1.0, 3 / 4]))


def test_rescale_factors_inverse_is_the_released_code_reading():
    # The released valid_model: mean plain row norm of expert 1 (all rows)
    # over that of expert 2 on its target rows. Plain row norms: expert 1
    # [1, 1, sqrt2] -> (2 + sqrt2) / 3, expert 2 rows 1, 2 [sqrt2, 2] ->
    # (sqrt2 + 2) / 2: factor ((2 + sqrt2) / 3) / ((2 + sqrt2) / 2) = 2/3.
    f = ace.rescale_factors(W, MASKS2, rescale='plain', norm_reduce='mean',
                            rescale_inverse=True)
    assert torch.allclose(f, torch.tensor([1.0, 2 / 3]))
    # The reciprocal of the printed direction, for every reading.
    for rescale, reduce in (('plain', 'sum'), ('squared', 'sum'),
                            ('squared', 'mean')):
        direct = ace.rescale_factors(W, MASKS2, rescale=rescale,
                                     norm_reduce=reduce)
        inverse = ace.rescale_factors(W, MASKS2, rescale=rescale,
                                      norm_reduce=reduce, rescale_inverse=True)
        assert torch.allclose(inverse, 1 / direct)


def test_rescale_factors_edge_cases():
    for reduce in ('mean', 'sum'):
        assert torch.equal(
            ace.rescale_factors(W, MASKS2, rescale=None, norm_reduce=reduce),
            torch.ones(2))
        # 1x1 conv weights [K, C, D, 1, 1] are flattened.
        assert torch.allclose(
            ace.rescale_factors(W[..., None, None], MASKS2,
                                norm_reduce=reduce),
            ace.rescale_factors(W, MASKS2, norm_reduce=reduce))
    with pytest.raises(ValueError, match='target'):
        ace.rescale_factors(W, MASKS2, norm_over='rows')
    with pytest.raises(ValueError, match="'mean', 'sum'"):
        ace.rescale_factors(W, MASKS2, norm_reduce='max')


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
    o = ace.aggregate_logits([Z1, Z2], MASKS2, f, aggregation=mode)
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
        ace.aggregate_logits(z, masks, aggregation='concat'),
        torch.tensor([[1., 4., 12.]]))
    with pytest.raises(ValueError, match='avg'):
        ace.aggregate_logits(z, masks, aggregation='sum')
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
    out = ace.aggregate_logits(z, masks, aggregation='gated')
    torch.testing.assert_close(out.exp()[0], expected)
    # Dense logits: the same rule at every pixel.
    dense = [x.view(1, 4, 1, 1).expand(2, 4, 3, 3) for x in z]
    torch.testing.assert_close(
        ace.aggregate_logits(dense, masks, aggregation='gated')[:, :, 1, 2],
        out.expand(2, 4))
    # One expert: expert 1's log-probabilities.
    torch.testing.assert_close(
        ace.aggregate_logits(z[:1], masks[:1], aggregation='gated'),
        z[0].log_softmax(dim=1))
