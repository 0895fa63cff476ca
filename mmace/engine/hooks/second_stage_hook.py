from typing import Sequence

import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmpretrain.registry import HOOKS

from mmace.utils.errors import ConfigError


@HOOKS.register_module()
class SecondStageHook(Hook):
    """Train the second stage of a decoupled method on a first-stage model.

    The decoupling recipes (Kang et al., ICLR 2020) keep a first-stage
    representation and retrain only part of the classifier: cRT
    re-initialises the classifier and retrains it, LWS learns per-class
    scales of the kept classifier. With ``load_from`` pointing at the
    first-stage checkpoint, this hook

    - refuses to start without ``load_from`` (or a resume): a second stage
      on random features would train and report numbers that mean nothing;
    - re-initialises the ``reinit`` modules (``reset_parameters()``) when
      the training starts from ``load_from``, not when it resumes;
    - freezes the ``freeze`` parameters (``requires_grad=False``) and keeps
      the ``freeze`` modules in eval mode every epoch, so their batch-norm
      statistics stay those of the first stage.

    Names are dotted paths in the model (``'backbone'``, ``'head.fc'``,
    ``'head.fc.weight'``); a module name covers all its parameters.

    Args:
        reinit (Sequence[str]): Modules to re-initialise. Defaults to ().
        freeze (Sequence[str]): Modules or parameters to freeze.
            Defaults to ``('backbone', 'neck')``.

    Example:
        >>> load_from = 'work_dirs/ce_r32_cifar10-lt-100/epoch_400.pth'
        >>> custom_hooks = [dict(type='SecondStageHook', reinit=['head.fc'],
        >>>                      freeze=['backbone', 'neck'])]
    """

    priority = 'VERY_HIGH'

    def __init__(self,
                 reinit: Sequence[str] = (),
                 freeze: Sequence[str] = ('backbone', 'neck')) -> None:
        for name, value in (('reinit', reinit), ('freeze', freeze)):
            if isinstance(value, str) or not all(
                    isinstance(v, str) for v in value):
                raise ConfigError(f'SecondStageHook: `{name}` must be a list '
                                  f'of module names, got {value!r}')
        self.reinit = list(reinit)
        self.freeze = list(freeze)
        self._frozen_modules = []  # found in before_train

    @staticmethod
    def _model(runner) -> nn.Module:
        model = runner.model
        return model.module if is_model_wrapper(model) else model

    def before_train(self, runner) -> None:
        model = self._model(runner)
        modules = dict(model.named_modules())
        params = dict(model.named_parameters())
        for name in self.reinit:
            module = modules.get(name)
            if module is None or not hasattr(module, 'reset_parameters'):
                raise ConfigError(
                    f'SecondStageHook: reinit names {name!r}, which is not '
                    'a module with reset_parameters() in this model '
                    f'(e.g. {[n for n in modules if n][:6]})')
        for name in self.freeze:
            if name not in modules and name not in params:
                raise ConfigError(
                    f'SecondStageHook: freeze names {name!r}, which is '
                    'neither a module nor a parameter of this model')
        resumed = runner.iter > 0
        if not resumed and not runner.cfg.get('load_from'):
            raise ConfigError(
                'SecondStageHook: this is a second-stage config; give it '
                'the first-stage checkpoint: --cfg-options '
                'load_from=work_dirs/<stage-1 run>/epoch_N.pth')
        if not resumed:
            for name in self.reinit:
                modules[name].reset_parameters()
            runner.logger.info(
                f'SecondStageHook: from {runner.cfg.load_from}; '
                f're-initialised {self.reinit or "nothing"}, frozen '
                f'{self.freeze or "nothing"}')
        for pname, param in params.items():
            if any(pname == f or pname.startswith(f + '.')
                   for f in self.freeze):
                param.requires_grad_(False)
        self._frozen_modules = [modules[n] for n in self.freeze
                                if n in modules]

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch=None) -> None:
        # The train loop puts the whole model in train mode at every epoch
        # start, after the before_train_epoch hooks.
        for module in self._frozen_modules:
            if module.training:
                module.eval()
