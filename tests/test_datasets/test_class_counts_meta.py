"""The training set's class counts travel in its metainfo, so every
checkpoint records them (mmengine saves ``meta['dataset_meta']``)."""
import torch

from mmace.datasets import LongTailDataset, LTListDataset


def test_long_tail_subset_reports_its_counts():
    lt = LongTailDataset(dataset=dict(type='LTDigits', split='train'),
                         imb_factor=10)
    assert lt.metainfo['class_counts'] == lt.class_counts.tolist()
    counts = lt.metainfo['class_counts']
    assert counts == sorted(counts, reverse=True) and counts[0] > counts[-1]
    lazy = LongTailDataset(dataset=dict(type='LTDigits', split='train'),
                           imb_factor=10, lazy_init=True)
    assert 'class_counts' not in lazy.metainfo  # not selected yet


def test_list_dataset_reports_the_counts_of_its_list(tmp_path):
    ann = tmp_path / 'train.txt'
    ann.write_text('a.jpg 0\nb.jpg 2\nc.jpg 2\nd.jpg 0\ne.jpg 0\n')
    ds = LTListDataset(ann_file=str(ann), num_classes=4, check_files=False)
    assert ds.metainfo['class_counts'] == [3, 0, 2, 0]


def test_checkpoints_record_the_training_counts(trained_digits):
    ckpt = torch.load(trained_digits.ace.last, map_location='cpu',
                      weights_only=False)
    recorded = ckpt['meta']['dataset_meta']['class_counts']
    head = ckpt['state_dict']['head.class_counts']
    assert recorded == head.long().tolist()
    assert sum(recorded) > 0
