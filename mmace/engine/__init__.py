from mmengine.registry import RUNNERS as ROOT_RUNNERS

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

# mmpretrain's and mmdet's own tools/train.py (what `mim train` runs) build
# `runner_type` with mmengine's root RUNNERS before any default scope is set,
# so the runner must be found there too.
ROOT_RUNNERS.register_module(module=LongTailRunner, force=True)
