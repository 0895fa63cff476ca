"""``torch.compile`` for training, on the model's tensor parts.

mmengine's ``Runner`` honours a config's ``compile`` (``True`` or
``torch.compile``'s keyword arguments) by compiling the whole
``model.train_step``: the data preprocessor, the data samples, the loss
parsing and the optimizer wrapper's backward and step. With torch 2.14
that stops in the optimizer step (``InternalTorchDynamoError``), after
graph breaks in mmengine's data casting. :class:`LongTailRunner` honours
the same key by compiling the parts that are tensors in, tensors out,
where the time goes: the backbone, the neck and the head's loss module
(mmpretrain's ``head.loss_module``), each in place with
``nn.Module.compile``, so parameter names and checkpoints stay as they
are. Autograd runs the compiled backward of each part. The data
preprocessor, the head's classifiers and the optimizer step run eagerly:
the optimizer is one fused kernel on the fast path, and left eager it
takes the learning rates mmengine's schedulers write every iteration
without recompiling.
"""
import inspect
from typing import List, Optional, Union

import torch
import torch.nn as nn

from ...utils.errors import ConfigError

#: Where the compiled parts are, as attribute paths from the model.
COMPILED_PARTS = ('backbone', 'neck', 'head.loss_module')
#: Keyword arguments of ``torch.compile`` a config may give.
COMPILE_KEYS = tuple(name
                     for name in inspect.signature(torch.compile).parameters
                     if name != 'model')
#: ``torch.compile`` modes (``tools/train.py --compile MODE``).
COMPILE_MODES = ('default', 'reduce-overhead', 'max-autotune',
                 'max-autotune-no-cudagraphs')


def compile_options(compile_cfg: Union[bool, dict, None]) -> Optional[dict]:
    """``torch.compile``'s keyword arguments from a config's ``compile``
    (None: do not compile). Unknown keys are refused, naming them."""
    if compile_cfg is None or compile_cfg is False:
        return None
    if compile_cfg is True:
        return {}
    if not isinstance(compile_cfg, dict):
        raise ConfigError('`compile` must be True, False or a dict of '
                          f'torch.compile arguments, but got {compile_cfg!r}')
    unknown = sorted(set(compile_cfg) - set(COMPILE_KEYS))
    if unknown:
        raise ConfigError(f'`compile` has keys {unknown} that torch.compile '
                          f'does not take (it takes {list(COMPILE_KEYS)})')
    return dict(compile_cfg)


def compile_model_parts(model: nn.Module, options: dict) -> List[str]:
    """Compile ``model``'s :data:`COMPILED_PARTS` in place (a DDP wrapper
    is looked through); returns the paths of those it has."""
    model = getattr(model, 'module', model)
    compiled = []
    for path in COMPILED_PARTS:
        try:
            part = model.get_submodule(path)
        except AttributeError:  # the model has no such part
            continue
        part.compile(**options)
        compiled.append(path)
    if not compiled:
        raise ConfigError(
            f'`compile` is set, but {type(model).__name__} has none of '
            f'{list(COMPILED_PARTS)} to compile; remove `compile`')
    return compiled
