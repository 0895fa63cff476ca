"""get_class_counts, resolve_class_counts and shot_splits: classification
labels, and images / instances per class of a detection dataset."""
import collections
import json
from collections import Counter

import numpy as np
import pytest

import mmace  # noqa: F401
from mmace.datasets import get_class_counts, resolve_class_counts, shot_splits

from conftest import SHARED, ToyDataset


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


# ------------------------------------------------------------ detection
COCO_LT_MINI = SHARED / 'data' / 'coco-lt-mini'
needs_coco_lt = pytest.mark.skipif(
    not (COCO_LT_MINI / 'annotations' / 'instances_train.json').is_file(),
    reason=f'coco-lt-mini not found at {COCO_LT_MINI}')


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


@needs_coco_lt
def test_instances_per_class_match_the_json():
    CocoDataset = pytest.importorskip('mmdet.datasets').CocoDataset
    ann = json.loads((COCO_LT_MINI / 'annotations' /
                      'instances_train.json').read_text())
    classes = CocoDataset.METAINFO['classes']
    index = {c['id']: classes.index(c['name']) for c in ann['categories']}
    non_crowd = [a for a in ann['annotations'] if not a.get('iscrowd', 0)]
    # mmdet's CocoDataset also drops degenerate boxes (w or h < 1 px, area
    # <= 0): one such box in coco-lt-mini (0.77 px wide), so training sees
    # 2358 of the README's 2359 non-crowd instances.
    kept = [a for a in non_crowd if a['bbox'][2] >= 1
            and a['bbox'][3] >= 1 and a['area'] > 0]
    assert (len(non_crowd), len(kept)) == (2359, 2358)
    expected = Counter(index[a['category_id']] for a in kept)
    expected = [expected[i] for i in range(len(classes))]

    dataset = CocoDataset(
        data_root=str(COCO_LT_MINI),
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img='images/'), pipeline=[],
        filter_cfg=dict(filter_empty_gt=True, min_size=32))
    counts = get_class_counts(dataset)
    assert counts.tolist() == expected
    assert counts[classes.index('person')] == 561


def test_counts_recorded_in_the_metainfo_are_not_recounted():
    """The training set's metainfo is the counts' one home (LongTailRunner
    records them there; mmengine saves them with every checkpoint)."""
    recorded = ToyDataset([3, 1], metainfo=dict(class_counts=[7, 5]))
    assert get_class_counts(recorded).tolist() == [7, 5]
    assert get_class_counts(ToyDataset([3, 1])).tolist() == [3, 1]
    wrong = ToyDataset([3, 1], metainfo=dict(class_counts=[7, 5, 1]))
    with pytest.raises(ValueError, match=r"metainfo\['class_counts'\] has 3"):
        get_class_counts(wrong)


@pytest.mark.parametrize('bad, culprit', [([5, -1, 2], 'class_counts[1]'),
                                          ([5, 2, float('nan')],
                                           'class_counts[2]'),
                                          ([5, 'x', 2], 'class_counts[1]')])
def test_datasets_and_heads_refuse_bad_counts_by_one_rule(bad, culprit):
    """The datasets' counts and a head's counts are checked by one rule, and
    both errors name the same class."""
    from mmace.models.heads import LongTailLinearClsHead
    with pytest.raises((TypeError, ValueError)) as from_data:
        resolve_class_counts(bad)
    with pytest.raises((TypeError, ValueError)) as from_head:
        LongTailLinearClsHead(num_classes=3, in_channels=4, class_counts=bad)
    assert culprit in str(from_data.value)
    assert culprit in str(from_head.value)
    assert type(from_data.value) is type(from_head.value)


def test_dataset_counts_are_whole_numbers():
    with pytest.raises(ValueError, match=r'class_counts\[1\]=2.5'):
        resolve_class_counts([3, 2.5])
