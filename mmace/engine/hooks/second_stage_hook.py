from typing import Sequence

import torch.nn as nn
from mmengine.dist import broadcast, get_world_size
from mmengine.hooks import Hook
from mmengine.model import BaseModule, is_model_wrapper
from mmpretrain.registry import HOOKS

from mmace.utils.errors import ConfigError


@HOOKS.register_module()
class SecondStageHook(Hook):
    """Start the second stage of a decoupled method from the first stage.

    The decoupling recipes (Kang et al., ICLR 2020) keep a first-stage
    representation and retrain only part of the classifier: cRT
    re-initialises the classifier and retrains it, LWS learns per-class
    scales of the kept classifier. With ``load_from`` pointing at the
    first-stage checkpoint, this hook

    - refuses to start without ``load_from`` (or a resume): a second stage
      on random features would train and report numbers that mean nothing;
    - re-initialises the ``reinit`` modules with their own initialisation
      (their ``init_cfg`` / ``init_weights()``, as when the model was
      built) when the training starts from ``load_from``, not when it
      resumes. Under distributed training the new weights are broadcast
      from rank 0, so every process starts from the same ones.

    What stays frozen is set where mmengine needs it, in the config, before
    the model is built and wrapped (DDP reduces the gradients of the
    parameters that require them when it wraps the model, before any hook
    runs): the backbone's ``frozen_stages`` and ``norm_eval=True`` freeze
    it and keep its batch-norm statistics; ``optim_wrapper.paramwise_cfg``
    with ``lr_mult=0., decay_mult=0.`` keeps any other parameter
    unchanged.

    Args:
        reinit (Sequence[str]): Dotted names of the modules to
            re-initialise (e.g. ``'head'``); each must be an mmengine
            ``BaseModule``. Defaults to ().

    Example:
        >>> load_from = 'work_dirs/ce_r32_cifar10-lt-100/epoch_400.pth'
        >>> model = dict(backbone=dict(frozen_stages=3, norm_eval=True))
        >>> custom_hooks = [dict(type='SecondStageHook', reinit=['head'])]
    """

    priority = 'VERY_HIGH'

    def __init__(self, reinit: Sequence[str] = ()) -> None:
        if isinstance(reinit, str) or not all(
                isinstance(v, str) for v in reinit):
            raise ConfigError('SecondStageHook: `reinit` must be a list of '
                              f'module names, got {reinit!r}')
        self.reinit = list(reinit)

    def reinit_modules(self, model: nn.Module) -> None:
        """Re-initialise the ``reinit`` modules of ``model`` (unwrapped)
        with their own initialisation.

        Args:
            model (nn.Module): The model.
        """
        modules = dict(model.named_modules())
        for name in self.reinit:
            if not isinstance(modules.get(name), BaseModule):
                some = [n for n, m in modules.items()
                        if n and isinstance(m, BaseModule)][:6]
                raise ConfigError(
                    f'SecondStageHook: reinit names {name!r}, which is not '
                    'an mmengine BaseModule (with its own init_cfg / '
                    f'init_weights) of this model (e.g. {some})')
        for name in self.reinit:
            module = modules[name]
            # init_weights() runs once per module; mark the module and its
            # sub-modules as not initialised to run it again.
            for sub in module.modules():
                if isinstance(sub, BaseModule):
                    sub.is_init = False
            module.init_weights()
            if get_world_size() > 1:
                for tensor in module.state_dict().values():
                    broadcast(tensor, src=0)

    def before_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) \
            else runner.model
        resumed = runner.iter > 0
        if not resumed and not runner.cfg.get('load_from'):
            raise ConfigError(
                'SecondStageHook: this is a second-stage config; give it '
                'the first-stage checkpoint: --cfg-options '
                'load_from=work_dirs/<stage-1 run>/epoch_N.pth')
        if not resumed:
            self.reinit_modules(model)
            runner.logger.info(
                f'SecondStageHook: from {runner.cfg.load_from}; '
                f're-initialised {self.reinit or "nothing"}')
