from typing import Sequence

import torch
import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmpretrain.registry import HOOKS


def _to_channels_last(module, args):
    """Forward pre-hook: 4-D tensor inputs in channels_last."""
    if args and torch.is_tensor(args[0]) and args[0].dim() == 4:
        return (args[0].contiguous(memory_format=torch.channels_last),
                *args[1:])
    return None


@HOOKS.register_module()
class ChannelsLastHook(Hook):
    """Run the model's convolutions in the channels_last (NHWC) layout.

    In ``before_run`` (training, ``runner.val()`` and ``runner.test()``) a
    forward pre-hook is put on ``model.backbone`` (on the first ``Conv2d``
    of a model without one) that makes its 4-D input channels_last. The
    convolutions then produce channels_last outputs and batch norm, ReLU,
    the residual additions and pooling keep that layout, so the whole
    network runs in NHWC. Values are unchanged, only their memory order
    (results agree with NCHW to float rounding).

    The parameters stay NCHW: a convolution reorders its small weight
    itself, and autograd hands out weight gradients in the parameters'
    layout. So nothing else sees a difference:

    - DDP: the gradients match its buckets' layout. (Converting the
      parameters after DDP has wrapped the model, which is when hooks run,
      trains wrongly: DDP's buckets keep the old strides.)
    - Checkpoints, ``--resume`` and the optimizer state: unchanged.
    - AMP: autocast works on channels_last tensors as on NCHW ones.
    - Dense (per-pixel) heads: ``mmace.models.ace`` takes the class
      axis anywhere and accepts channels_last logits.

    mmace's ``configs/_base_/default_runtime.py`` lists it in
    ``custom_hooks`` (CPU only); ``tools/train.py --channels-last`` adds
    ``'cuda'`` to its devices.
    ``.dev_scripts/benchmark/benchmark_ace.py --channels-last both`` measures
    the gain of a train step and of inference on CPU, and
    ``.dev_scripts/benchmark/gpu_check.sh`` both layouts on a GPU (where it
    depends on the GPU, AMP and the channel counts); add ``'cuda'`` to
    ``devices`` where it wins.

    Args:
        devices (Sequence[str]): Device types (``'cpu'``, ``'cuda'``, ...)
            on which the hook acts; on others it does nothing.
            Defaults to ``('cpu', )``.

    Example:
        >>> # on for CPU and GPU
        >>> custom_hooks = [
        >>>     dict(type='ChannelsLastHook', devices=('cpu', 'cuda'))]
    """

    priority = 'VERY_HIGH'

    def __init__(self, devices: Sequence[str] = ('cpu', )) -> None:
        if isinstance(devices, str):
            devices = (devices, )
        if not all(isinstance(d, str) for d in devices):
            raise TypeError('ChannelsLastHook: devices must be device type '
                            f'names such as "cpu" or "cuda", got {devices!r}')
        self.devices = tuple(devices)

    def before_run(self, runner) -> None:
        model = runner.model
        if is_model_wrapper(model):
            model = model.module
        self.convert(model)

    def convert(self, model: nn.Module) -> bool:
        """Make ``model`` run channels_last if it is on one of ``devices``.

        Args:
            model (nn.Module): The (unwrapped) model.

        Returns:
            bool: Whether the model now runs channels_last.
        """
        param = next(model.parameters(), None)
        if param is None or param.device.type not in self.devices:
            return False
        target = getattr(model, 'backbone', None)
        if not isinstance(target, nn.Module):
            target = next(
                (m for m in model.modules() if isinstance(m, nn.Conv2d)),
                None)
        if target is None:
            return False
        # Once per module (train, then test; or two runners).
        if not any(h is _to_channels_last
                   for h in target._forward_pre_hooks.values()):
            target.register_forward_pre_hook(_to_channels_last)
            print_log(
                f'ChannelsLastHook: {type(model).__name__} on '
                f'{param.device.type} runs in channels_last',
                logger='current')
        return True


def apply_config_layout(cfg, model: nn.Module) -> bool:
    """Give ``model`` the layout a runner of ``cfg`` would give it.

    For tools that build a config's model without a runner (read-outs,
    benchmarks) and must compute exactly what ``tools/train.py`` /
    ``tools/test.py`` compute: runs the :meth:`ChannelsLastHook.convert` of
    the config's ``ChannelsLastHook`` (in ``custom_hooks``), if it has one.

    Returns:
        bool: Whether the model now runs channels_last.
    """
    layouts = [h for h in cfg.get('custom_hooks') or ()
               if h.get('type') in ('ChannelsLastHook', ChannelsLastHook)]
    return any([HOOKS.build(h).convert(model) for h in layouts])
