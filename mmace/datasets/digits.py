from typing import List

import numpy as np

from mmpretrain.datasets import BaseDataset
from mmpretrain.registry import DATASETS


@DATASETS.register_module()
class LTDigits(BaseDataset):
    """scikit-learn's bundled handwritten digits, for a download-free start.

    ``sklearn.datasets.load_digits()`` holds 1797 real 8x8 grey images of
    the digits 0-9 (174-183 per class). The first ``test_per_class`` images
    of each class, in scikit-learn's order, form a balanced test split; the
    rest is the train split (124-133 per class with the default 50). Data
    infos hold ``img`` as an ``8x8x3`` ``uint8`` array (the 0..16 pixel
    values scaled to 0..255 and rounded), so pipelines need no
    ``LoadImageFromFile``.

    The README quick start wraps the train split into a long-tailed subset
    whose head class, '0', keeps all its 128 train images (with the default
    ``seed=0`` and ``test_per_class=50``)::

        >>> from mmace.datasets import LongTailDataset
        >>> LongTailDataset(dataset=dict(type='LTDigits'), imb_factor=10,
        ...                 max_per_class=128).class_counts
        array([128,  99,  76,  59,  46,  35,  27,  21,  16,  12])

    Args:
        split (str): ``'train'`` or ``'test'``. Defaults to 'train'.
        test_per_class (int): Test images per class. Defaults to 50.
        **kwargs: Other keyword arguments in :class:`BaseDataset`.
    """

    METAINFO = {'classes': tuple(str(i) for i in range(10))}

    def __init__(self,
                 split: str = 'train',
                 test_per_class: int = 50,
                 **kwargs):
        if split not in ('train', 'test'):
            raise ValueError(f"split must be 'train' or 'test', got "
                             f'split={split!r}')
        # The smallest digit class has 174 images; keep some for training.
        if isinstance(test_per_class, bool) or \
                not isinstance(test_per_class, int) or \
                not 0 < test_per_class < 174:
            raise ValueError('test_per_class must be an integer in [1, 173], '
                             f'got test_per_class={test_per_class!r}')
        self.split = split
        self.test_per_class = test_per_class
        super().__init__(ann_file='', **kwargs)

    def load_data_list(self) -> List[dict]:
        """Load the digits and keep this split's images."""
        # Imported here so that `import mmace` does not pay for sklearn.
        from sklearn.datasets import load_digits
        digits = load_digits()
        images = np.rint(digits.images * (255.0 / 16.0)).astype(np.uint8)
        labels = digits.target.astype(np.int64)

        # rank[i]: how many earlier images share image i's label.
        rank = np.zeros(len(labels), dtype=np.int64)
        for c in np.unique(labels):
            idx = np.flatnonzero(labels == c)
            rank[idx] = np.arange(len(idx))
        in_test = rank < self.test_per_class
        keep = np.flatnonzero(in_test if self.split == 'test' else ~in_test)
        return [
            dict(
                img=np.repeat(images[i][..., None], 3, axis=2),
                gt_label=int(labels[i])) for i in keep
        ]

    def extra_repr(self) -> List[str]:
        """The extra repr information of the dataset."""
        return [
            f'Split: \t{self.split}',
            f'Test images per class: \t{self.test_per_class}',
        ]
