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
