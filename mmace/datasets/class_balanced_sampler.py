import math
from typing import Iterator, Optional

import numpy as np
import torch
from mmengine.dist import get_dist_info, sync_random_seed
from torch.utils.data import Sampler

from mmpretrain.registry import DATA_SAMPLERS

from .class_counts import count_labels

MODES = ('class_balanced', 'sqrt', 'progressive')


@DATA_SAMPLERS.register_module()
class ClassBalancedSampler(Sampler):
    """Re-balanced sampling for long-tailed training (Kang et al., ICLR 2020).

    Each epoch draws, with replacement, as many samples as the dataset has:
    a class is drawn with probability ``p_c`` and then one of its samples
    uniformly. With ``q`` the sampling power, ``p_c`` is proportional to
    ``n_c^q``:

    - ``'class_balanced'``: ``q = 0``, every class equally often;
    - ``'sqrt'``: ``q = 1/2`` (square-root sampling);
    - ``'progressive'``: from instance-balanced (``p_c`` proportional to
      ``n_c``, the plain data) at the first epoch to class-balanced at the
      last: ``p = (1 - t/T) * p_instance + t/T * p_class``, ``t`` the epoch
      and ``T = total_epochs``.

    Usable in any mmpretrain dataloader config
    (``sampler=dict(type='ClassBalancedSampler', mode='sqrt')``); the
    labels come from the dataset's ``get_gt_labels()``. Distributed: each
    rank takes every ``world_size``-th draw of one seeded sequence, as
    mmengine's ``DefaultSampler`` shards.

    Args:
        dataset: The (mmpretrain) dataset.
        mode (str): ``'class_balanced'``, ``'sqrt'`` or ``'progressive'``.
            Defaults to ``'class_balanced'``.
        total_epochs (int, optional): ``T`` of ``'progressive'``.
        seed (int, optional): Random seed, shared by the ranks.
    """

    def __init__(self, dataset, mode: str = 'class_balanced',
                 total_epochs: Optional[int] = None,
                 seed: Optional[int] = None):
        if mode not in MODES:
            raise ValueError(f'ClassBalancedSampler: unknown mode {mode!r}, '
                             f'valid modes are {list(MODES)}')
        if mode == 'progressive' and not (isinstance(total_epochs, int)
                                          and total_epochs > 0):
            raise ValueError("ClassBalancedSampler: mode='progressive' needs "
                             'total_epochs, a positive int (the '
                             f'training epochs), got {total_epochs!r}')
        self.dataset = dataset
        self.mode = mode
        self.total_epochs = total_epochs
        self.seed = sync_random_seed() if seed is None else seed
        self.rank, self.world_size = get_dist_info()
        labels = np.asarray(dataset.get_gt_labels(), dtype=np.int64)
        counts = count_labels(labels)
        self.class_counts = counts
        # Sample indices grouped by class: class c is
        # _order[_starts[c]:_starts[c] + counts[c]].
        self._order = np.argsort(labels, kind='stable')
        self._starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        self.total_size = len(labels)
        self.num_samples = math.ceil(self.total_size / self.world_size)
        self.epoch = 0

    def class_probs(self, epoch: Optional[int] = None) -> np.ndarray:
        """``p_c`` of an epoch (classes without samples get 0)."""
        n = self.class_counts.astype(np.float64)
        present = n > 0
        balanced = present / present.sum()
        if self.mode == 'class_balanced':
            return balanced
        if self.mode == 'sqrt':
            root = np.sqrt(n)
            return root / root.sum()
        t = min(self.epoch if epoch is None else epoch, self.total_epochs)
        frac = t / self.total_epochs
        return (1 - frac) * n / n.sum() + frac * balanced

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator()
        g.manual_seed(self.seed + self.epoch)
        size = self.num_samples * self.world_size
        probs = torch.as_tensor(self.class_probs())
        classes = torch.multinomial(probs, size, replacement=True,
                                    generator=g)
        picks = torch.rand(size, generator=g, dtype=torch.float64).numpy()
        classes = classes.numpy()
        within = np.minimum((picks * self.class_counts[classes]).astype(
            np.int64), self.class_counts[classes] - 1)
        indices = self._order[self._starts[classes] + within]
        return iter(indices[self.rank:size:self.world_size].tolist())

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
