from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import IterBasedTrainLoop
from mmpretrain.registry import HOOKS


@HOOKS.register_module()
class SwitchOffBatchAugHook(Hook):
    """Train the last epochs without batch augmentations (e.g. Mixup).

    ACE trains with Mixup and turns it off for the last 20 epochs (Sec. 4.1).
    Before every training epoch whose index is at least
    ``max_epochs - num_last_epochs``, this hook sets
    ``data_preprocessor.batch_augments`` of the model to None. The labels stay
    one-hot (``to_onehot`` is kept), so the loss sees the same label format.

    The hook keeps no state: the decision depends only on the current epoch,
    so resuming from a checkpoint saved after the switch point trains without
    Mixup from the first resumed epoch, and resuming before it switches on
    time. Unlike mmpretrain's ``SwitchRecipeHook`` (absolute
    ``action_epoch``), the switch point follows ``train_cfg.max_epochs``.

    Args:
        num_last_epochs (int): Number of final epochs trained without batch
            augmentations. 0 never switches them off. Defaults to 20.

    Example:
        >>> custom_hooks = [
        >>>     dict(type='SwitchOffBatchAugHook', num_last_epochs=20)]
    """

    priority = 'NORMAL'

    def __init__(self, num_last_epochs: int = 20) -> None:
        if (not isinstance(num_last_epochs, int)
                or isinstance(num_last_epochs, bool) or num_last_epochs < 0):
            raise ValueError('`num_last_epochs` of SwitchOffBatchAugHook '
                             'must be an int >= 0, but got '
                             f'{num_last_epochs!r}.')
        self.num_last_epochs = num_last_epochs

    def before_train(self, runner) -> None:
        # Checked here rather than in `before_run`, which `runner.val()` and
        # `runner.test()` also call (and `runner.train_loop` would build the
        # train dataloader there).
        loop = runner.train_loop
        if isinstance(loop, IterBasedTrainLoop) or not isinstance(
                getattr(loop, 'max_epochs', None), int):
            raise TypeError(
                'SwitchOffBatchAugHook needs an epoch-based train loop '
                "(train_cfg=dict(by_epoch=True, max_epochs=...)), but got "
                f'{type(loop).__name__}.')

    def before_train_epoch(self, runner) -> None:
        if runner.epoch < runner.max_epochs - self.num_last_epochs:
            return
        model = runner.model
        if is_model_wrapper(model):
            model = model.module
        preprocessor = model.data_preprocessor
        if getattr(preprocessor, 'batch_augments', None) is not None:
            preprocessor.batch_augments = None
            # `runner.epoch` is 0-based; the log lines count from 1.
            runner.logger.info(
                'Switch off batch augments (Mixup) at epoch '
                f'{runner.epoch + 1}/{runner.max_epochs}: the last '
                f'{self.num_last_epochs} epochs train without them.')
