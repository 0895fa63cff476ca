"""BF16OptimWrapper: bf16 autocast in the forward, fp32 parameters, no
loss scaler."""
import torch
import torch.nn as nn
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope

import mmace  # noqa: F401


def test_forward_runs_in_bf16_and_parameters_stay_fp32():
    torch.manual_seed(0)
    model = nn.Linear(8, 3)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        wrapper = build_optim_wrapper(model, dict(
            type='BF16OptimWrapper', optimizer=dict(type='SGD', lr=0.1)))
    x = torch.randn(4, 8)
    with wrapper.optim_context(model):
        out = model(x)
    assert out.dtype == torch.bfloat16
    before = model.weight.detach().clone()
    wrapper.update_params(out.float().pow(2).mean())
    assert model.weight.dtype == torch.float32
    assert not torch.equal(model.weight, before)
    assert not hasattr(wrapper, 'loss_scaler')
    # Outside the context the model runs in fp32 again.
    assert model(x).dtype == torch.float32
