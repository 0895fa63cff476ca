"""LTDigits: scikit-learn's handwritten digits, the quick start's data."""
import numpy as np
import pytest

from mmace.datasets import LTDigits, get_class_counts


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


def test_the_quick_start_subset_fits_the_shipped_data():
    """Building the quick start's training set says nothing about classes
    short of their long-tail target (issue 26): every target fits."""
    from unittest.mock import patch

    from mmengine.config import Config
    from mmpretrain.registry import DATASETS

    from conftest import ACE_DIGITS
    cfg = Config.fromfile(ACE_DIGITS)
    with patch('mmace.datasets.long_tail.print_log') as log:
        lt = DATASETS.build(cfg.train_dataloader.dataset)
    messages = [str(call.args[0]) for call in log.call_args_list]
    assert not [m for m in messages if 'fewer source images' in m], messages
    assert lt.class_counts.tolist() == [
        128, 99, 76, 59, 46, 35, 27, 21, 16, 12
    ]
