"""DeferredReweightingHook: effective-number class weights switched on at
start_epoch."""
import numpy as np
import torch

from mmace.engine.hooks.deferred_reweighting_hook import (
    DeferredReweightingHook, effective_number_weights)
from mmace.models.losses import LDAMLoss

COUNTS = [8, 2]  # prior 0.8 / 0.2


def test_effective_number_weights():
    w = effective_number_weights([8, 2], beta=0.5)
    # (1 - .5) / (1 - .5^8) and (1 - .5) / (1 - .5^2), normalised to sum 2.
    raw = np.array([0.5 / (1 - 0.5**8), 0.5 / 0.75])
    assert np.allclose(w, raw / raw.sum() * 2)


class _Runner:
    """The parts of a runner the DRW hook reads."""

    def __init__(self, loss, labels):
        self.model = torch.nn.Module()
        self.model.head = torch.nn.Module()
        self.model.head.loss_module = loss

        class Data:
            def get_gt_labels(self):
                return np.array(labels)

        self.train_dataloader = type('L', (), {'dataset': Data()})()
        self.epoch = 0


def test_drw_hook_switches_class_weights_on_at_start_epoch():
    loss = LDAMLoss()
    loss.set_class_counts(torch.tensor(COUNTS, dtype=torch.float))
    runner = _Runner(loss, [0] * 8 + [1] * 2)
    hook = DeferredReweightingHook(start_epoch=2, beta=0.5)
    hook.before_train(runner)
    for epoch, on in ((0, False), (1, False), (2, True), (3, True)):
        runner.epoch = epoch
        hook.before_train_epoch(runner)
        assert (loss.class_weight is not None) == on, epoch
    assert np.allclose(loss.class_weight,
                       effective_number_weights([8, 2], 0.5))
