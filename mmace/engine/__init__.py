from ..utils.scopes import register_in_downstream_scopes
from .hooks import *  # noqa: F401,F403
from .hooks import (ChannelsLastHook, NonFiniteLossHook, RNGStateHook,
                    SwitchOffBatchAugHook)
from .optimizers import *  # noqa: F401,F403
from .optimizers import ACEOptimWrapperConstructor
from .runners import *  # noqa: F401,F403
from .runners import LongTailRunner

# `runner_type='LongTailRunner'`, mmace's hooks and the ACE optimizer
# constructor also work in configs with default_scope='mmdet' / 'mmseg'.
register_in_downstream_scopes(
    dict(
        RUNNERS=[LongTailRunner],
        HOOKS=[
            ChannelsLastHook, NonFiniteLossHook, RNGStateHook,
            SwitchOffBatchAugHook
        ],
        OPTIM_WRAPPER_CONSTRUCTORS=[ACEOptimWrapperConstructor]))
