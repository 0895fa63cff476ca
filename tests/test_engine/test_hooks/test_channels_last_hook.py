"""ChannelsLastHook: the network runs NHWC with the same values, under
autocast and DDP too.

No timing is asserted here: the speed targets are checked by
.dev_scripts/benchmark/benchmark_ace.py and loop_overhead.py.
"""
import copy
import os
import socket
from types import SimpleNamespace

import pytest
import torch
import torch.multiprocessing as mp
import torch.nn as nn
from mmengine.registry import init_default_scope
from mmpretrain.registry import HOOKS
from mmpretrain.structures import DataSample

import mmace  # noqa: F401
from conftest import ace_cifar_model
from mmace.engine.hooks import ChannelsLastHook
from mmace.models import ace
from mmace.models.losses import ACELoss

CL = torch.channels_last
COUNTS = [500, 300, 180, 100, 60, 40, 20, 12, 8, 5]


def ace_model():
    init_default_scope('mmpretrain')
    torch.manual_seed(0)
    model = ace_cifar_model(
        COUNTS, num_experts=3,
        data_preprocessor=dict(type='ClsDataPreprocessor', num_classes=10))
    model.init_weights()
    return model


def batch(n=6, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, 32, 32, generator=gen)
    labels = torch.randint(0, 10, (n, ), generator=gen)
    return x, [DataSample().set_gt_label(y) for y in labels]


def convs(model):
    return [m for m in model.modules() if isinstance(m, nn.Conv2d)]


def sgd_steps(model, x, samples, steps=2):
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model.train()
    for _ in range(steps):
        loss, _ = model.parse_losses(model(x, samples, mode='loss'))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return loss


# ------------------------------------------------------ ChannelsLastHook
def test_hook_runs_the_network_channels_last_keeping_values():
    ref = ace_model()
    model = copy.deepcopy(ref)
    hook = HOOKS.build(dict(type='ChannelsLastHook'))
    hook.before_run(SimpleNamespace(model=model))
    layouts = []
    for conv in convs(model):
        conv.register_forward_hook(lambda m, a, out: layouts.append(
            (a[0].is_contiguous(memory_format=CL),
             out.is_contiguous(memory_format=CL))))

    x, samples = batch()
    ref.eval()
    model.eval()
    with torch.no_grad():
        assert torch.allclose(model(x, mode='tensor'), ref(x, mode='tensor'),
                              atol=1e-5)
    # Every convolution, from the stem to the experts, ran NHWC.
    assert len(layouts) == len(convs(model))
    assert all(i and o for i, o in layouts), layouts
    # Training agrees to float rounding; parameters and their gradients
    # keep the NCHW layout (what DDP buckets, checkpoints and the optimizer
    # state expect).
    sgd_steps(ref, x, samples)
    sgd_steps(model, x, samples)
    for conv in convs(model):
        assert conv.weight.is_contiguous()
        assert conv.weight.grad.is_contiguous()
    for (name, a), b in zip(ref.state_dict().items(),
                            model.state_dict().values()):
        assert torch.allclose(a.float(), b.float(), atol=1e-4), name
    # Running the hook again (train, then test) adds nothing.
    hook.before_run(SimpleNamespace(model=model))
    assert len(model.backbone._forward_pre_hooks) == 1


def test_hook_skips_other_devices_and_checks_arguments():
    model = ace_model()
    assert not ChannelsLastHook(devices=('cuda', )).convert(model)
    assert not model.backbone._forward_pre_hooks
    with pytest.raises(TypeError, match='devices'):
        ChannelsLastHook(devices=[0])


def test_cpu_autocast_with_channels_last():
    """AMP's autocast (bf16 on CPU) runs the channels_last ACE model."""
    model = ace_model()
    assert ChannelsLastHook().convert(model)
    x, samples = batch()
    with torch.autocast('cpu', dtype=torch.bfloat16):
        loss, _ = model.parse_losses(model(x, samples, mode='loss'))
    loss.backward()
    assert torch.isfinite(loss)
    assert all(torch.isfinite(p.grad).all() for p in model.parameters()
               if p.grad is not None)


def test_dense_ace_math_on_channels_last_logits():
    torch.manual_seed(0)
    masks = ace.plan_target_masks([60, 50, 40, 30, 20, 10], 3)
    logits = [torch.randn(2, 6, 4, 5, requires_grad=True) for _ in range(3)]
    labels = torch.randint(0, 6, (2, 4, 5))
    nhwc = [z.contiguous(memory_format=CL) for z in logits]
    a = ACELoss().terms(logits, labels, masks)
    b = ACELoss().terms(nhwc, labels, masks)
    for key in ('cls', 'com', 'size'):
        assert torch.allclose(a[key], b[key], atol=1e-6), key
    ga = torch.autograd.grad((a['cls'] + a['com']).sum(), logits)
    gb = torch.autograd.grad((b['cls'] + b['com']).sum(), logits)
    assert all(torch.allclose(x, y, atol=1e-6) for x, y in zip(ga, gb))
    f = torch.tensor([1., .8, .5])
    assert torch.allclose(
        ace.aggregate_logits(logits, masks, f),
        ace.aggregate_logits(nhwc, masks, f), atol=1e-6)


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _ddp_worker(rank, port, out):
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel as DDP
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    dist.init_process_group('gloo', rank=rank, world_size=2)
    torch.set_num_threads(1)
    results = []
    for channels_last in (False, True):
        torch.manual_seed(0)  # the same weights on both ranks and layouts
        net = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(),
            nn.Conv2d(8, 8, 3, stride=2, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))
        ddp = DDP(net)
        opt = torch.optim.SGD(ddp.parameters(), lr=0.1, momentum=0.9)
        if channels_last:  # as in a runner: after wrapping, optimizer built
            ChannelsLastHook().before_run(SimpleNamespace(model=ddp))
        layouts = []
        net[2].register_forward_hook(lambda m, a, o: layouts.append(
            o.is_contiguous(memory_format=CL)))
        gen = torch.Generator().manual_seed(rank)
        for _ in range(3):
            x = torch.randn(4, 3, 8, 8, generator=gen)
            y = torch.randint(0, 4, (4, ), generator=gen)
            loss = nn.functional.cross_entropy(ddp(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        results.append([p.detach().clone() for p in net.parameters()])
        assert layouts == [channels_last] * 3
    torch.save(results, f'{out}/rank{rank}.pth')
    dist.destroy_process_group()


@pytest.mark.slow
def test_hook_under_ddp_matches_nchw(tmp_path):
    mp.spawn(_ddp_worker, args=(_free_port(), str(tmp_path)), nprocs=2)
    r0 = torch.load(tmp_path / 'rank0.pth')
    r1 = torch.load(tmp_path / 'rank1.pth')
    for nchw, cl, other in zip(r0[0], r0[1], r1[1]):
        assert torch.equal(cl, other)  # ranks in sync
        assert torch.allclose(nchw, cl, atol=1e-5)  # same training


# ---------------------------------------------------- decode-once cache
