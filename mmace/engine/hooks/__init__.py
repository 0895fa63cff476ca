from .buffered_runtime_info_hook import BufferedRuntimeInfoHook
from .channels_last_hook import ChannelsLastHook
from .deferred_reweighting_hook import DeferredReweightingHook
from .non_finite_loss_hook import NonFiniteLossHook
from .rng_state_hook import RNGStateHook
from .second_stage_hook import SecondStageHook
from .switch_off_batch_aug_hook import SwitchOffBatchAugHook

__all__ = [
    'BufferedRuntimeInfoHook', 'ChannelsLastHook', 'DeferredReweightingHook',
    'NonFiniteLossHook', 'RNGStateHook', 'SecondStageHook',
    'SwitchOffBatchAugHook'
]
