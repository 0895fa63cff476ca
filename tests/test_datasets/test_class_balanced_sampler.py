"""ClassBalancedSampler: class frequencies over many draws."""
import numpy as np
import pytest

from mmace.datasets import ClassBalancedSampler



class _Labels:
    def __init__(self, labels):
        self.labels = labels

    def get_gt_labels(self):
        return np.array(self.labels)

    def __len__(self):
        return len(self.labels)


@pytest.mark.parametrize('mode, expected', [
    ('class_balanced', [1 / 3] * 3),
    ('sqrt', np.sqrt([64, 16, 4]) / np.sqrt([64, 16, 4]).sum()),
])
def test_sampler_class_frequencies(mode, expected):
    labels = [0] * 64 + [1] * 16 + [2] * 4
    sampler = ClassBalancedSampler(_Labels(labels), mode=mode, seed=0)
    drawn = []
    for epoch in range(60):  # 60 x 84 draws
        sampler.set_epoch(epoch)
        drawn += [labels[i] for i in sampler]
    freq = np.bincount(drawn, minlength=3) / len(drawn)
    assert np.allclose(freq, expected, atol=0.02), freq
    assert len(sampler) == len(labels)


def test_progressive_sampler_moves_from_data_to_balanced():
    labels = [0] * 64 + [1] * 16 + [2] * 4
    sampler = ClassBalancedSampler(_Labels(labels), mode='progressive',
                                   total_epochs=10, seed=0)
    assert np.allclose(sampler.class_probs(0), [64 / 84, 16 / 84, 4 / 84])
    assert np.allclose(sampler.class_probs(10), [1 / 3] * 3)
    assert np.allclose(sampler.class_probs(5),
                       0.5 * np.array([64, 16, 4]) / 84 + 0.5 / 3)
    with pytest.raises(ValueError, match='needs total_epochs'):
        ClassBalancedSampler(_Labels(labels), mode='progressive')
