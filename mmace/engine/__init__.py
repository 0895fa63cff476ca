from mmengine.registry import RUNNERS as ROOT_RUNNERS

from ..utils.scopes import register_in_downstream_scopes
from .fast_path import fast_path_config  # noqa: F401
from .hooks import *  # noqa: F401,F403
from .hooks import (BufferedRuntimeInfoHook, ChannelsLastHook,
                    NonFiniteLossHook, RNGStateHook, SecondStageHook,
                    SwitchOffBatchAugHook)
from .optimizers import *  # noqa: F401,F403
from .optimizers import ACEOptimWrapperConstructor, BF16OptimWrapper
from .runners import *  # noqa: F401,F403
from .runners import LongTailRunner

# `runner_type='LongTailRunner'`, mmace's hooks and the ACE optimizer
# constructor also work in configs with default_scope='mmdet' / 'mmseg'.
register_in_downstream_scopes(
    dict(
        RUNNERS=[LongTailRunner],
        HOOKS=[
            BufferedRuntimeInfoHook, ChannelsLastHook, NonFiniteLossHook,
            RNGStateHook, SecondStageHook, SwitchOffBatchAugHook
        ],
        OPTIM_WRAPPER_CONSTRUCTORS=[ACEOptimWrapperConstructor],
        OPTIM_WRAPPERS=[BF16OptimWrapper]))

# mmpretrain's and mmdet's own tools/train.py (what `mim train` runs) build
# `runner_type` with mmengine's root RUNNERS before any default scope is set,
# so the runner must be found there too.
ROOT_RUNNERS.register_module(module=LongTailRunner, force=True)
