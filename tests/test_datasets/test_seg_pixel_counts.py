"""get_class_counts for segmentation (pixels, cached) and detection datasets.

Segmentation counts are checked by hand with numpy on label maps written
here; the cache is keyed by the files, so a second call reads no mask and a
changed mask is rescanned. Detection image counts are checked against the
coco-lt-mini JSON read independently.
"""
import collections
import json
import os

import numpy as np
import pytest
from mmengine.config import Config
from PIL import Image

import mmace  # noqa: F401
from mmace.datasets import get_class_counts
from mmace.datasets import seg_pixel_counts
from mmace.engine.runners.long_tail_runner import check_head_num_classes
from mmace.utils.errors import BadImageError

from conftest import SHARED

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


COCO_LT_MINI = SHARED / 'data' / 'coco-lt-mini'


@pytest.mark.skipif(not COCO_LT_MINI.is_dir(),
                    reason=f'{COCO_LT_MINI} not found')
def test_detection_images_per_class_match_the_json():
    from mmdet.datasets import CocoDataset
    ann = json.loads(
        (COCO_LT_MINI / 'annotations' / 'instances_train.json').read_text())
    images_with = collections.defaultdict(set)
    for a in ann['annotations']:
        # mmdet's CocoDataset drops crowd regions from training and boxes
        # under 1 px (one such box in coco-lt-mini); so do the counts.
        _, _, w, h = a['bbox']
        if not a.get('iscrowd', 0) and w >= 1 and h >= 1 and a['area'] > 0:
            images_with[a['category_id']].add(a['image_id'])
    cat_ids = sorted(c['id'] for c in ann['categories'])
    dataset = CocoDataset(
        data_root=str(COCO_LT_MINI),
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img='images/'), pipeline=[], filter_cfg=None)
    counts = get_class_counts(dataset, unit='image')
    assert counts.tolist() == [len(images_with[c]) for c in cat_ids]
    with pytest.raises(ValueError, match="unit 'boxes'"):
        get_class_counts(dataset, unit='boxes')


def test_runner_checks_detector_and_segmentor_heads():
    counts = [5, 3, 1]
    det = Config(dict(model=dict(roi_head=dict(bbox_head=dict(
        type='Shared2FCBBoxHead', num_classes=80)))))
    with pytest.raises(ValueError,
                       match=r'model\.roi_head\.bbox_head\.num_classes=80'):
        check_head_num_classes(det, counts)
    cascade = Config(dict(model=dict(roi_head=dict(bbox_head=[
        dict(type='Shared2FCBBoxHead', num_classes=3),
        dict(type='Shared2FCBBoxHead', num_classes=4)]))))
    with pytest.raises(ValueError, match=r'bbox_head\[1\]\.num_classes=4'):
        check_head_num_classes(cascade, counts)
    seg = Config(dict(model=dict(decode_head=dict(type='FCNHead',
                                                  num_classes=3))))
    check_head_num_classes(seg, counts)  # matches: no error
