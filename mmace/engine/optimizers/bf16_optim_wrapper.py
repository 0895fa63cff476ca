from contextlib import contextmanager

import torch
import torch.nn as nn
from mmengine.optim import OptimWrapper
from mmpretrain.registry import OPTIM_WRAPPERS


@OPTIM_WRAPPERS.register_module()
class BF16OptimWrapper(OptimWrapper):
    """Mixed precision in bfloat16, without a loss scaler.

    mmengine's ``AmpOptimWrapper`` always keeps a ``GradScaler``, whose
    ``step`` reads an inf/NaN flag on the host every iteration: a
    synchronisation that bfloat16 (fp32's exponent range) does not need.
    This wrapper only runs the forward under ``torch.autocast`` in
    bfloat16, on the device that holds the model (CUDA, or a CPU that
    supports it); the parameters, gradients and the optimizer stay fp32.
    ``mmace.engine.fast_path_config(cfg, amp='bf16')`` selects it.

    Example:
        >>> optim_wrapper = dict(type='BF16OptimWrapper',
        >>>                      optimizer=dict(type='SGD', lr=0.1))
    """

    @contextmanager
    def optim_context(self, model: nn.Module):
        param = next(model.parameters(), None)
        device_type = param.device.type if param is not None else 'cpu'
        with super().optim_context(model), torch.autocast(
                device_type=device_type, dtype=torch.bfloat16):
            yield
