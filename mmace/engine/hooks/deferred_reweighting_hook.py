from typing import Optional

import numpy as np
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmpretrain.registry import HOOKS

from ...models.utils.checks import check_int, check_number


def effective_number_weights(counts, beta: float) -> np.ndarray:
    """Class-balanced weights (Cui et al., CVPR 2019): ``(1 - beta) /
    (1 - beta^n_c)``, normalised to sum to the number of classes."""
    counts = np.asarray(counts, dtype=np.float64)
    weights = (1.0 - beta) / (1.0 - np.power(beta, counts))
    return weights / weights.sum() * len(counts)


@HOOKS.register_module()
class DeferredReweightingHook(Hook):
    """Deferred re-weighting (DRW, Cao et al., NeurIPS 2019).

    From epoch ``start_epoch`` on (0-based, as mmengine counts: the
    LDAM-DRW CIFAR recipe of 200 epochs re-weights from its 161st epoch,
    ``start_epoch=160``) the head's loss gets per-class weights from the
    effective number of samples; before it, none. Works with any loss that
    reads a ``class_weight`` attribute: mmpretrain's ``CrossEntropyLoss``,
    :class:`mmace.models.losses.LDAMLoss`,
    :class:`mmace.models.losses.LogitAdjustedLoss`. The counts are the
    training set's (``mmace.datasets.get_class_counts``). The state follows
    the epoch, so a resumed run re-weights exactly when an uninterrupted
    one would.

    Args:
        start_epoch (int): First re-weighted epoch (0-based).
        beta (float): Effective-number beta. Defaults to 0.9999.
        loss_path (str): Attribute path of the loss from the model.
            Defaults to ``'head.loss_module'``.
    """

    priority = 'NORMAL'

    def __init__(self, start_epoch: int, beta: float = 0.9999,
                 loss_path: str = 'head.loss_module'):
        owner = type(self).__name__
        self.start_epoch = check_int(owner, 'start_epoch', start_epoch, 0)
        check_number(owner, 'beta', beta, 0)
        if not beta < 1:
            raise ValueError(f'{owner}: beta={beta} must be below 1')
        self.beta = beta
        self.loss_path = loss_path
        self._weights: Optional[list] = None

    def _loss(self, runner):
        module = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        loss = module
        for name in self.loss_path.split('.'):
            if not hasattr(loss, name):
                raise AttributeError(
                    f'{type(self).__name__}: the model has no '
                    f'{self.loss_path!r} (loss_path)')
            loss = getattr(loss, name)
        if not hasattr(loss, 'class_weight'):
            raise TypeError(
                f'{type(self).__name__}: {type(loss).__name__} at '
                f'{self.loss_path!r} has no class_weight to set')
        return loss

    def before_train(self, runner) -> None:
        from mmace.datasets import get_class_counts
        counts = get_class_counts(runner.train_dataloader.dataset)
        self._weights = effective_number_weights(counts, self.beta).tolist()
        self._loss(runner)  # fail now, not at start_epoch

    def before_train_epoch(self, runner) -> None:
        loss = self._loss(runner)
        on = runner.epoch >= self.start_epoch
        loss.class_weight = self._weights if on else None
