"""Specification of mmace's datasets and class-count helpers."""
import json
import os
import pickle
import re
import subprocess
import sys
from pathlib import Path

import mmcv
import numpy as np
import pytest
from mmpretrain.datasets import CIFAR10, CIFAR100, BaseDataset
from mmpretrain.registry import DATASETS

import mmace  # noqa: F401
from mmace.datasets import (CIFAR10Auto, CIFAR100Auto, CIFARFolder,
                            LongTailDataset, LTDigits, LTListDataset,
                            get_class_counts, long_tail_profile,
                            resolve_class_counts, shot_splits)

from conftest import REPO, SHARED  # noqa: E402  (honours MMACE_SHARED)

CIFAR_JPEG = SHARED / 'data' / 'cifar10-jpeg'
LT_LISTS = SHARED / 'data' / 'lt-lists'
CIFAR10_CLASSES = CIFAR10.METAINFO['classes']

needs_cifar_jpeg = pytest.mark.skipif(
    not (CIFAR_JPEG / 'train').is_dir(),
    reason=f'shared CIFAR-10 JPEGs not found at {CIFAR_JPEG}')


class ToyDataset(BaseDataset):
    """Labels only: ``per_class[c]`` samples of class c, classes interleaved
    (like the CIFAR pickles)."""

    def __init__(self, per_class, **kwargs):
        self.per_class = list(per_class)
        classes = [f'c{i}' for i in range(len(self.per_class))]
        super().__init__(ann_file='', classes=classes, **kwargs)

    def load_data_list(self):
        remaining = list(self.per_class)
        data_list = []
        while any(remaining):
            for c, n in enumerate(remaining):
                if n:
                    data_list.append(dict(gt_label=c))
                    remaining[c] -= 1
        return data_list


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


# --------------------------------------------------------- class counts
def test_get_class_counts_sources():
    assert get_class_counts(ToyDataset([3, 0, 2])).tolist() == [3, 0, 2]

    class WithCounts:
        class_counts = [4, 1]

    assert get_class_counts(WithCounts()).dtype == np.int64

    class LabelsOnly:  # no metainfo: num classes = max label + 1

        def get_gt_labels(self):
            return np.array([0, 3, 3])

    assert get_class_counts(LabelsOnly()).tolist() == [1, 0, 0, 2]

    class NoLabels:
        pass

    with pytest.raises(TypeError, match='NoLabels has no labels to count'):
        get_class_counts(NoLabels())


def test_resolve_class_counts():
    assert resolve_class_counts([3, 2, 1]).tolist() == [3, 2, 1]
    assert resolve_class_counts(np.array([3., 2.])).dtype == np.int64
    assert resolve_class_counts(ToyDataset([2, 1])).tolist() == [2, 1]
    counts = resolve_class_counts(
        dict(
            type='LongTailDataset',
            dataset=dict(type='LTDigits'),
            imb_factor=20))
    assert counts.tolist() == [128, 95, 68, 48, 35, 25, 18, 12, 9, 6]
    with pytest.raises(ValueError, match="runner_type='LongTailRunner'"):
        resolve_class_counts('auto')
    with pytest.raises(ValueError, match='non-negative'):
        resolve_class_counts([3, -1])
    with pytest.raises(ValueError, match='1-D'):
        resolve_class_counts([[1, 2]])


def test_shot_splits_thresholds():
    splits = shot_splits([101, 100, 50, 20, 19, 0])
    assert splits['many'].tolist() == [0]
    assert splits['medium'].tolist() == [1, 2, 3]
    assert splits['few'].tolist() == [4, 5]
    with pytest.raises(ValueError, match='few_thr'):
        shot_splits([1, 2], many_thr=10, few_thr=20)


# ---------------------------------------------------------------- CIFAR
@needs_cifar_jpeg
def test_cifar10_folder_on_shared_jpegs():
    train = DATASETS.build(
        dict(type='CIFAR10Auto', data_root=str(CIFAR_JPEG), split='train'))
    assert isinstance(train, CIFARFolder)
    assert train.metainfo['classes'] == CIFAR10_CLASSES
    assert get_class_counts(train).tolist() == [5000] * 10
    lt = LongTailDataset(train, imb_factor=100)
    assert lt.class_counts.tolist() == [
        5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50
    ]
    assert len(lt) == 12406
    item = lt[len(lt) - 1]
    assert item['img'].shape == (32, 32, 3)
    assert item['img'].dtype == np.uint8
    assert item['gt_label'] == 9
    assert Path(item['img_path']).parent.name == 'truck'

    test = CIFAR10Auto(data_root=str(CIFAR_JPEG), split='test')
    assert get_class_counts(test).tolist() == [1000] * 10


def _fake_cifar10_images(per_class=2):
    rng = np.random.default_rng(0)
    n = per_class * 10
    imgs = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    labels = [i % 10 for i in range(n)]
    return imgs, labels


def _write_cifar10_pickles(root, imgs, labels):
    folder = root / CIFAR10.base_folder
    folder.mkdir(parents=True)
    flat = imgs.transpose(0, 3, 1, 2).reshape(len(imgs), -1)  # official CHW
    half = len(imgs) // 2
    batches = {'data_batch_1': slice(0, half), 'test_batch': slice(half, None)}
    for i in range(2, 6):
        batches[f'data_batch_{i}'] = slice(0, 0)
    for name, sl in batches.items():
        with open(folder / name, 'wb') as f:
            pickle.dump({'data': flat[sl], 'labels': labels[sl]}, f)
    with open(folder / 'batches.meta', 'wb') as f:
        pickle.dump({'label_names': list(CIFAR10_CLASSES)}, f)


def _write_cifar10_folders(root, imgs, labels, split='train'):
    for c in CIFAR10_CLASSES:
        (root / split / c).mkdir(parents=True)
    for i, (img, label) in enumerate(zip(imgs, labels)):
        path = root / split / CIFAR10_CLASSES[label] / f'{i:04d}.png'
        mmcv.imwrite(img[..., ::-1], str(path))  # cv2 writes BGR


def test_cifar_pickle_and_folder_layouts_give_the_same_samples(
        tmp_path, monkeypatch):
    imgs, labels = _fake_cifar10_images()
    half = len(imgs) // 2
    _write_cifar10_pickles(tmp_path / 'pkl', imgs, labels)
    _write_cifar10_folders(tmp_path / 'png', imgs[:half], labels[:half])
    # The official md5 sums cannot match fake batches.
    monkeypatch.setattr(CIFAR10, '_check_integrity', lambda self: True)

    pipeline = [dict(type='PackInputs')]
    from_pkl = CIFAR10Auto(
        data_root=str(tmp_path / 'pkl'), pipeline=pipeline, download=False)
    from_png = CIFAR10Auto(data_root=str(tmp_path / 'png'), pipeline=pipeline)
    assert type(from_pkl) is CIFAR10
    assert isinstance(from_png, CIFARFolder)
    assert len(from_pkl) == len(from_png) == half
    # Folder order is class by class; compare by matching labels.
    png_by_label = {
        int(from_png.get_cat_ids(i)[0]): i
        for i in range(len(from_png))
    }
    for i in range(len(from_pkl)):
        a, b = from_pkl[i], from_png[png_by_label[labels[i]]]
        assert a['inputs'].shape == b['inputs'].shape == (3, 32, 32)
        assert (a['inputs'] == b['inputs']).all()  # PNG is lossless, RGB
        assert a['data_samples'].gt_label == b['data_samples'].gt_label


def test_cifar100_folder_layout(tmp_path):
    classes = CIFAR100.METAINFO['classes']
    for c in classes:
        (tmp_path / 'test' / c).mkdir(parents=True)
        mmcv.imwrite(
            np.zeros((32, 32, 3), np.uint8),
            str(tmp_path / 'test' / c / 'a.png'))
    ds = CIFAR100Auto(data_root=str(tmp_path), split='test')
    assert isinstance(ds, CIFARFolder)
    assert ds.metainfo['classes'] == classes
    assert get_class_counts(ds).tolist() == [1] * 100
    assert ds[99]['gt_label'] == 99 and ds[99]['img'].shape == (32, 32, 3)


def test_cifar_download_failure_is_one_clear_error(tmp_path, monkeypatch):
    import mmpretrain.datasets.cifar as mmpretrain_cifar

    def offline(*args, **kwargs):
        raise OSError('network is unreachable')

    monkeypatch.setattr(mmpretrain_cifar, 'download_and_extract_archive',
                        offline)
    root = tmp_path / 'empty'
    with pytest.raises(RuntimeError) as e:
        CIFAR10Auto(data_root=str(root))
    msg = str(e.value)
    assert str(root) in msg and 'network is unreachable' in msg
    assert 'cifar-10-batches-py' in msg and '<split>/<class_name>' in msg

    with pytest.raises(FileNotFoundError, match='download=False'):
        CIFAR10Auto(data_root=str(root), download=False)


def test_cifar_root_with_neither_layout(tmp_path):
    (tmp_path / 'images').mkdir()
    with pytest.raises(ValueError) as e:
        CIFAR10Auto(data_root=str(tmp_path))
    msg = str(e.value)
    assert str(tmp_path) in msg and "'images'" in msg
    assert 'cifar-10-batches-py' in msg and '<split>/<class_name>' in msg


def test_cifar_folder_errors_name_the_folder(tmp_path):
    for c in CIFAR10_CLASSES[:9]:
        (tmp_path / 'train' / c).mkdir(parents=True)
    missing = tmp_path / 'train' / 'truck'
    with pytest.raises(FileNotFoundError, match=re.escape(str(missing))):
        CIFAR10Auto(data_root=str(tmp_path))
    (tmp_path / 'train' / 'trucks').mkdir()
    with pytest.raises(
            ValueError, match=re.escape(str(tmp_path / 'train' / 'trucks'))):
        CIFAR10Auto(data_root=str(tmp_path))
    with pytest.raises(
            FileNotFoundError, match=re.escape(str(tmp_path / 'test'))):
        CIFAR10Auto(data_root=str(tmp_path), split='test')
    with pytest.raises(ValueError, match="split='val'"):
        CIFAR10Auto(data_root=str(tmp_path), split='val')


# ------------------------------------------------------------ list files
def _write_list(root, lines, name='list.txt'):
    path = root / name
    path.write_text('\n'.join(lines) + '\n')
    return path


def test_lt_list_dataset_parses_and_loads(tmp_path):
    img_dir = tmp_path / 'images'
    names = ['a/x0.png', 'a/x1.png', 'b/with space.png']
    for i, name in enumerate(names):
        (img_dir / name).parent.mkdir(parents=True, exist_ok=True)
        mmcv.imwrite(np.full((4, 6, 3), i * 40, np.uint8), str(img_dir / name))
    ann = _write_list(
        tmp_path, ['a/x0.png 0', '', '  a/x1.png\t2  ', 'b/with space.png 2'])
    ds = LTListDataset(
        ann_file='list.txt',
        data_root=str(tmp_path),
        data_prefix='images',
        pipeline=[dict(type='LoadImageFromFile')])
    assert len(ds) == 3
    assert ds.metainfo['classes'] == ('0', '1', '2')
    assert get_class_counts(ds).tolist() == [1, 0, 2]
    assert ds.get_data_info(2)['img_path'] == str(img_dir / names[2])
    assert ds[2]['img'].shape == (4, 6, 3)
    assert ds.ann_file == str(ann)

    wide = LTListDataset(ann_file=str(ann), num_classes=5, check_files=False)
    assert wide.metainfo['classes'] == ('0', '1', '2', '3', '4')
    named = LTListDataset(
        ann_file=str(ann), classes=['p', 'q', 'r'], check_files=False)
    assert named.metainfo['classes'] == ('p', 'q', 'r')


@pytest.mark.parametrize('line,pattern', [
    ('only_a_path.jpg', r"list\.txt:3: expected '<path> <label>', "
     r"got 'only_a_path\.jpg'"),
    ('a.jpg one', r"list\.txt:3: label must be a non-negative integer, "
     r"got 'one'"),
    ('a.jpg 1.0', r"list\.txt:3: label .*got '1\.0'"),
    ('a.jpg -1', r'list\.txt:3: label must be a non-negative integer, '
     r'got -1'),
    ('a.jpg 7', r'list\.txt:3: label 7 is out of range \[0, 5\)'),
])
def test_lt_list_dataset_bad_lines_name_file_and_line(tmp_path, line, pattern):
    ann = _write_list(tmp_path, ['x.jpg 0', 'y.jpg 1', line])
    with pytest.raises(
            ValueError, match=re.escape(str(tmp_path)) + '.*' + pattern):
        LTListDataset(ann_file=str(ann), num_classes=5, check_files=False)


def test_lt_list_dataset_missing_files(tmp_path):
    (tmp_path / 'img').mkdir()
    mmcv.imwrite(np.zeros((2, 2, 3), np.uint8), str(tmp_path / 'img/ok.png'))
    ann = _write_list(tmp_path,
                      ['ok.png 0', 'gone.png 1', 'ok.png 1', 'lost.png 0'])
    with pytest.raises(FileNotFoundError) as e:
        LTListDataset(ann_file=str(ann), data_prefix=str(tmp_path / 'img'))
    msg = str(e.value)
    assert '2 of 4 images' in msg
    assert str(tmp_path / 'img' / 'gone.png') in msg
    assert f'{ann}:2' in msg
    with pytest.raises(
            FileNotFoundError, match=re.escape(str(tmp_path / 'nope.txt'))):
        LTListDataset(ann_file=str(tmp_path / 'nope.txt'))
    with pytest.raises(ValueError, match='num_classes=0'):
        LTListDataset(ann_file=str(ann), num_classes=0)


@pytest.mark.skipif(
    not (LT_LISTS / 'Places_LT_train.txt').is_file(),
    reason='shared Places-LT list not found')
def test_places_lt_train_list_profile():
    ds = LTListDataset(
        ann_file=str(LT_LISTS / 'Places_LT_train.txt'),
        num_classes=365,
        check_files=False)
    counts = get_class_counts(ds)
    assert len(ds) == 62500
    assert len(counts) == 365
    assert counts.max() == 4980 and counts.min() == 5
    assert sum(len(v) for v in shot_splits(counts).values()) == 365


# ---------------------------------------------------------------- digits
def test_lt_digits_splits():
    train, test = LTDigits(split='train'), LTDigits(split='test')
    assert len(train) + len(test) == 1797
    assert get_class_counts(test).tolist() == [50] * 10
    assert get_class_counts(train).tolist() == [
        128, 132, 127, 133, 131, 132, 131, 129, 124, 130
    ]
    img = train[0]['img']
    assert img.shape == (8, 8, 3) and img.dtype == np.uint8
    assert img.max() <= 255 and max(
        test.get_data_info(i)['img'].max() for i in range(20)) == 255
    assert train.metainfo['classes'] == tuple('0123456789')
    with pytest.raises(ValueError, match='test_per_class=200'):
        LTDigits(test_per_class=200)


# ------------------------------------------------------------ stats tool
@pytest.mark.slow
def test_dataset_stats_tool(tmp_path):
    cfg = tmp_path / 'lt_digits.py'
    cfg.write_text(
        "default_scope = 'mmpretrain'\n"
        "custom_imports = dict(imports=['mmace'], "
        'allow_failed_imports=False)\n'
        'train_dataloader = dict(batch_size=4, dataset=dict(\n'
        "    type='LongTailDataset', dataset=dict(type='LTDigits'),\n"
        '    imb_factor=10))\n')
    out_json, out_png = tmp_path / 'stats.json', tmp_path / 'stats.png'
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(
            [str(REPO), os.environ.get('PYTHONPATH', '')]))
    proc = subprocess.run([
        sys.executable,
        str(REPO / 'tools/analysis_tools/dataset_stats.py'),
        str(cfg), '--json',
        str(out_json), '--plot',
        str(out_png), '--cfg-options',
        'train_dataloader.dataset.imb_factor=20', '--many-thr', '50',
        '--few-thr', '10'
    ],
                          env=env,
                          cwd=str(tmp_path),
                          capture_output=True,
                          text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    stats = json.loads(out_json.read_text())
    assert stats['num_classes'] == 10
    assert stats['counts'] == [128, 95, 68, 48, 35, 25, 18, 12, 9, 6]
    assert stats['imbalance_factor'] == pytest.approx(128 / 6)
    assert stats['splits'] == {'many': 3, 'medium': 5, 'few': 2}
    assert out_png.read_bytes()[:4] == b'\x89PNG'
    assert 'Imbalance factor (max/min): 21.33' in proc.stdout
