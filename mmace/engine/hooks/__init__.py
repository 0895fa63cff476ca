from .switch_off_batch_aug_hook import SwitchOffBatchAugHook

__all__ = ['SwitchOffBatchAugHook']
