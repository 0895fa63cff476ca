"""get_class_counts for segmentation datasets: pixels per class, cached.

Counts are checked by hand with numpy on label maps written here; the cache
is keyed by the files, so a second call reads no mask and a changed mask is
rescanned.
"""
import os

import numpy as np
import pytest
from PIL import Image

import mmace  # noqa: F401
from mmace.datasets import get_class_counts
from mmace.datasets import seg_pixel_counts
from mmace.utils.errors import BadImageError

CLASSES = ('road', 'car', 'person')


@pytest.fixture
def seg_root(tmp_path, monkeypatch):
    """Three 4x5 label maps (255 = ignore) and their images."""
    monkeypatch.setenv('MMACE_CACHE_DIR', str(tmp_path / 'cache'))
    rng = np.random.default_rng(0)
    (tmp_path / 'img').mkdir()
    (tmp_path / 'ann').mkdir()
    maps = []
    for i in range(3):
        seg = rng.choice([0, 1, 2, 255], size=(4, 5), p=[.6, .2, .1, .1])
        seg = seg.astype(np.uint8)
        Image.fromarray(seg).save(tmp_path / 'ann' / f'{i}.png')
        Image.fromarray(np.zeros((4, 5, 3), np.uint8)).save(
            tmp_path / 'img' / f'{i}.jpg')
        maps.append(seg)
    return tmp_path, maps


def build_seg(root, **kwargs):
    from mmseg.datasets import BaseSegDataset
    return BaseSegDataset(
        data_root=str(root), data_prefix=dict(img_path='img',
                                              seg_map_path='ann'),
        img_suffix='.jpg', seg_map_suffix='.png',
        metainfo=dict(classes=CLASSES), pipeline=[], **kwargs)


def test_pixels_per_class_without_ignore_index(seg_root):
    root, maps = seg_root
    expected = [sum(int((m == c).sum()) for m in maps) for c in range(3)]
    assert get_class_counts(build_seg(root)).tolist() == expected


def test_reduce_zero_label(seg_root):
    # Label 0 becomes ignore, 1..2 become 0..1; the third class is empty.
    root, maps = seg_root
    counts = get_class_counts(build_seg(root, reduce_zero_label=True))
    expected = [sum(int((m == c + 1).sum()) for m in maps) for c in range(2)]
    assert counts.tolist() == expected + [0]


def test_second_call_reads_the_cache_not_the_masks(seg_root, monkeypatch):
    root, _ = seg_root
    first = get_class_counts(build_seg(root))
    assert len(os.listdir(root / 'cache')) == 1

    def no_reading(*args, **kwargs):
        raise AssertionError('a mask was read although the cache holds it')

    monkeypatch.setattr(seg_pixel_counts, 'read_label_map', no_reading)
    assert get_class_counts(build_seg(root)).tolist() == first.tolist()


def test_a_changed_mask_is_counted_again(seg_root):
    root, maps = seg_root
    get_class_counts(build_seg(root))
    Image.fromarray(np.full((6, 5), 2, np.uint8)).save(root / 'ann' / '0.png')
    counts = get_class_counts(build_seg(root))
    assert counts[2] == 30 + sum(int((m == 2).sum()) for m in maps[1:])


def test_unreadable_mask_is_named(seg_root):
    root, _ = seg_root
    (root / 'ann' / '1.png').write_bytes(b'not a png')
    with pytest.raises(BadImageError, match=r'ann/1\.png'):
        get_class_counts(build_seg(root))


def test_label_outside_the_classes_is_named(seg_root):
    root, _ = seg_root
    Image.fromarray(np.full((4, 5), 7, np.uint8)).save(root / 'ann' / '2.png')
    with pytest.raises(ValueError, match=r'ann/2\.png holds label 7'):
        get_class_counts(build_seg(root))
