"""ACE planner (mmace/models/ace/planner.py): Eq. 1, Eq. 7 / 8, by hand.

The module is loaded from its file so that these tests need torch only.
"""
import ast
import importlib.util
import math

import numpy as np
import pytest
import torch

from conftest import REPO

PLANNER_PY = REPO / 'mmace/models/ace/planner.py'
_spec = importlib.util.spec_from_file_location('ace_planner', PLANNER_PY)
ace = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ace)


def imported_roots(path):
    roots = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots |= {a.name.split('.')[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            roots.add(node.module.split('.')[0])
    return roots


def test_only_torch_is_imported():
    for name in ('planner.py', 'readout.py'):
        roots = imported_roots(REPO / 'mmace/models/ace' / name)
        assert roots <= {'torch', 'typing', 'math'}, (name, roots)


def targets_of(masks):
    """Target class indices of each expert, as lists."""
    return [torch.nonzero(m).flatten().tolist() for m in masks]


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
