"""LTListDataset: '<path> <label>' list files (ImageNet-LT, Places-LT,
iNaturalist), their errors, and corrupt image files (issue 9)."""
import re
from pathlib import Path

import mmcv
import numpy as np
import pytest

import mmace  # noqa: F401
from mmace.datasets import LTListDataset, get_class_counts, shot_splits
from mmace.utils.errors import BadImageError

from conftest import LT_LISTS, make_cifar_tree, needs_cifar10_jpeg


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


def _list_file(path: Path, lines) -> Path:
    path.write_text(''.join(f'{p} {label}\n' for p, label in lines))
    return path


@needs_cifar10_jpeg
def test_list_dataset_names_bad_image_or_skips_it(tmp_path):
    root = make_cifar_tree(tmp_path / 'root', 2, ['empty'])
    ann = _list_file(tmp_path / 'list.txt', [
        ('train/cat/0000.jpg', 0), ('train/cat/zz_empty.jpg', 0),
        ('train/cat/0001.jpg', 0), ('train/dog/0000.jpg', 1)
    ])
    pipeline = [dict(type='LoadImageFromFile')]
    dataset = LTListDataset(
        str(ann), data_root=str(root), pipeline=pipeline)
    with pytest.raises(BadImageError) as info:
        dataset[1]
    assert 'zz_empty.jpg' in str(info.value)
    assert 'empty file' in str(info.value) and str(ann) in str(info.value)

    dataset = LTListDataset(
        str(ann), data_root=str(root), pipeline=pipeline,
        skip_bad_images=True)
    assert dataset[1]['img_path'].endswith('cat/0001.jpg')
