from mmpretrain.registry import MODELS

from .logit_adjusted_loss import LogitAdjustedLoss


@MODELS.register_module()
class BalancedSoftmaxLoss(LogitAdjustedLoss):
    """Balanced softmax (Ren et al., NeurIPS 2020): ``CE(z + log(n_c), y)``,
    the logit-adjusted loss with ``tau = 1``.

    Args:
        loss_weight (float): Defaults to 1.0.
        class_weight (Sequence[float], optional): Per-class weights.
    """

    def __init__(self, loss_weight: float = 1.0, class_weight=None):
        super().__init__(1.0, loss_weight, class_weight)
