"""CIFARFolder, CIFAR10Auto and CIFAR100Auto: the pickle and the folder
layouts, clear errors, and corrupt image files (issue 9, case 3)."""
import pickle
import re
from pathlib import Path

import mmcv
import numpy as np
import pytest
from mmpretrain.datasets import CIFAR10, CIFAR100
from mmpretrain.registry import DATASETS

import mmace  # noqa: F401
from mmace.datasets import (CIFAR10Auto, CIFAR100Auto, CIFARFolder,
                            LongTailDataset, get_class_counts)
from mmace.utils.errors import BadImageError

from conftest import CIFAR10_JPEG, make_cifar_tree, needs_cifar10_jpeg

CIFAR10_CLASSES = CIFAR10.METAINFO['classes']


# ---------------------------------------------------------------- CIFAR
@needs_cifar10_jpeg
def test_cifar10_folder_on_shared_jpegs():
    train = DATASETS.build(
        dict(type='CIFAR10Auto', data_root=str(CIFAR10_JPEG), split='train'))
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

    test = CIFAR10Auto(data_root=str(CIFAR10_JPEG), split='test')
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


# Corrupt images (issue 9, case 3); real JPEGs plus an empty, a truncated
# and a non-image file.
@needs_cifar10_jpeg
@pytest.mark.parametrize('kind', ['empty', 'truncated', 'not-an-image'])
def test_cifar_folder_names_bad_image(kind, tmp_path):
    root = make_cifar_tree(tmp_path, 2, [kind])
    dataset = CIFARFolder(str(root), metainfo=dict(classes=CIFAR10_CLASSES))
    bad = next(i for i in range(len(dataset))
               if 'zz_' in dataset._get_raw_info(i)['img_path'])
    with pytest.raises(BadImageError) as info:
        dataset[bad]
    msg = str(info.value)
    assert f'zz_{kind}.jpg' in msg and 'cannot decode image' in msg
    assert {'empty': 'empty file', 'truncated': 'truncated or corrupt JPEG',
            'not-an-image': 'not an image'}[kind] in msg
    assert 'skip_bad_images=True' in msg


@needs_cifar10_jpeg
def test_cifar_folder_skips_bad_images_when_asked(tmp_path):
    root = make_cifar_tree(tmp_path, 2, ['empty', 'truncated'])
    dataset = CIFARFolder(
        str(root), metainfo=dict(classes=CIFAR10_CLASSES),
        skip_bad_images=True)
    cat = CIFAR10_CLASSES.index('cat')
    for i in range(len(dataset)):
        info = dataset[i]
        assert info['gt_label'] == dataset._get_raw_info(i)['gt_label']
        assert 'zz_' not in info['img_path']
        assert info['img'].shape == (32, 32, 3)
        if 'zz_' in dataset._get_raw_info(i)['img_path']:
            assert info['gt_label'] == cat  # replaced within its class
    assert len(dataset._bad_images.skipped) == 2
    # A test split is never skipped: that would change the evaluation.
    test_split = CIFARFolder(
        str(root), metainfo=dict(classes=CIFAR10_CLASSES),
        skip_bad_images=True, test_mode=True)
    with pytest.raises(BadImageError, match='does not apply to a test'):
        [test_split[i] for i in range(len(test_split))]
