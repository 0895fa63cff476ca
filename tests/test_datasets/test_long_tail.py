"""long_tail_profile and LongTailDataset: the long-tailed subsets."""
import numpy as np
import pytest
from mmpretrain.registry import DATASETS

import mmace  # noqa: F401
from conftest import ToyDataset
from mmace.datasets import LongTailDataset, get_class_counts, long_tail_profile


# ---------------------------------------------------------------- profiles
def test_exp_profile_cifar10_if100_exact_counts():
    counts = long_tail_profile(10, 5000, 100)
    assert counts.dtype == np.int64
    assert counts.tolist() == [
        5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50
    ]
    assert counts.sum() == 12406


@pytest.mark.parametrize('num_classes,n_max,imb_factor,total', [
    (10, 5000, 100, 12406),
    (100, 500, 100, 10847),
    (10, 5000, 50, 13996),
    (100, 500, 50, 12608),
])
def test_exp_profile_totals_match_ldam_drw(num_classes, n_max, imb_factor,
                                           total):
    counts = long_tail_profile(num_classes, n_max, imb_factor)
    assert counts.sum() == total
    assert counts[0] == n_max
    assert counts[-1] == n_max // imb_factor
    assert (np.diff(counts) <= 0).all()


def test_exp_profile_floors_exact_products_correctly():
    # 100 * 1000 ** (-2/3) is exactly 1; a bare int() of the float gives 0.
    assert long_tail_profile(4, 100, 1000).tolist() == [100, 10, 1, 0]


def test_step_profile():
    assert long_tail_profile(10, 5000, 10, 'step').tolist() == \
        [5000] * 5 + [500] * 5
    assert long_tail_profile(5, 100, 3, 'step').tolist() == \
        [100, 100, 33, 33, 33]


def test_imb_factor_one_keeps_everything():
    assert long_tail_profile(10, 5000, 1).tolist() == [5000] * 10


# ------------------------------------------------------ LongTailDataset
def test_long_tail_dataset_counts_and_mapping():
    src = ToyDataset([500] * 10)
    lt = LongTailDataset(src, imb_factor=10)
    expected = long_tail_profile(10, 500, 10)
    assert lt.class_counts.dtype == np.int64
    assert lt.class_counts.tolist() == expected.tolist()
    assert get_class_counts(lt).tolist() == expected.tolist()
    assert len(lt) == expected.sum()
    assert (np.diff(lt.indices) > 0).all()  # sorted, no duplicates
    src_labels = src.get_gt_labels()
    assert (lt.get_gt_labels() == src_labels[lt.indices]).all()
    assert lt.get_cat_ids(3) == [int(src_labels[lt.indices[3]])]
    assert lt.get_data_info(3)['sample_idx'] == lt.indices[3]
    assert lt[3]['gt_label'] == src_labels[lt.indices[3]]
    assert lt.metainfo['classes'] == src.metainfo['classes']


def test_long_tail_dataset_selection_is_deterministic_and_documented():
    src = ToyDataset([300] * 5)
    labels = src.get_gt_labels()
    a = LongTailDataset(src, imb_factor=10, seed=0)
    b = LongTailDataset(src, imb_factor=10, seed=0)
    c = LongTailDataset(src, imb_factor=10, seed=1)
    assert (a.indices == b.indices).all()
    assert not np.array_equal(a.indices, c.indices)
    assert (a.class_counts == c.class_counts).all()

    # The documented rule: one generator, classes in index order.
    rng = np.random.default_rng(0)
    kept = []
    for cls, n in enumerate(long_tail_profile(5, 300, 10)):
        kept.append(rng.permutation(np.flatnonzero(labels == cls))[:n])
    assert (a.indices == np.sort(np.concatenate(kept))).all()

    # seed=None: the first n_i images of each class in source order.
    first = LongTailDataset(src, imb_factor=10, seed=None)
    for cls, n in enumerate(long_tail_profile(5, 300, 10)):
        assert (first.indices[first.get_gt_labels() == cls] == np.flatnonzero(
            labels == cls)[:n]).all()


def test_long_tail_dataset_options():
    src = ToyDataset([50, 80, 30])
    # imb_factor=None keeps everything (natively long-tailed lists).
    assert len(LongTailDataset(src)) == 160
    assert LongTailDataset(src, max_per_class=40).class_counts.tolist() == \
        [40, 40, 30]
    # n_max defaults to the largest source class (80); a class with fewer
    # images than its target keeps all of them.
    assert LongTailDataset(src, imb_factor=2).class_counts.tolist() == \
        [50, 56, 30]
    assert LongTailDataset(
        src, imb_factor=4, max_per_class=20,
        imb_type='step').class_counts.tolist() == [20, 5, 5]


def test_long_tail_dataset_from_config_and_lazy_init():
    lt = DATASETS.build(
        dict(
            type='LongTailDataset',
            dataset=dict(type='LTDigits', split='train'),
            imb_factor=10,
            lazy_init=True))
    assert not lt._fully_initialized
    assert lt.class_counts.tolist() == [
        128, 102, 79, 61, 47, 37, 28, 22, 17, 13
    ]
    assert lt._fully_initialized
    assert lt[0]['img'].shape == (8, 8, 3)


@pytest.mark.parametrize('imb_factor', [0.5, 0, -3])
def test_long_tail_dataset_rejects_imb_factor_below_one(imb_factor):
    with pytest.raises(ValueError, match=rf'imb_factor={imb_factor}\b'):
        LongTailDataset(ToyDataset([5, 5]), imb_factor=imb_factor)


def test_long_tail_dataset_rejects_bad_options():
    with pytest.raises(ValueError, match="imb_type='linear'"):
        LongTailDataset(ToyDataset([5, 5]), imb_factor=2, imb_type='linear')
    with pytest.raises(ValueError, match='max_per_class=0'):
        LongTailDataset(ToyDataset([5, 5]), max_per_class=0)
    with pytest.raises(TypeError, match='dataset'):
        LongTailDataset(42)


def test_long_tail_dataset_empty_class_names_class_and_fix():
    with pytest.raises(ValueError) as e:
        LongTailDataset(ToyDataset([10] * 4), imb_factor=1000)
    msg = str(e.value)
    # floor(10 * 1000 ** (-2/3)) = 0: class 2 ('c2') is the first empty one.
    assert "class 2 ('c2')" in msg
    assert 'imb_factor' in msg and 'max_per_class' in msg


def test_long_tail_dataset_source_without_a_class():
    with pytest.raises(ValueError, match=r"class 1 \('c1'\) has no images"):
        LongTailDataset(ToyDataset([10, 0, 10]))
