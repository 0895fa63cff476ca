""".dev_scripts/benchmark/step_profile.py and its counters: what they count
is what the loop does (host reads, dispatched ops, blocking copies), so
the CPU op counts stand in for a GPU's launches and syncs."""
import json
import sys

import pytest
import torch

from conftest import ACE_DIGITS, PYTHON, REPO, run_tool

BENCH = REPO / '.dev_scripts/benchmark'
sys.path.insert(0, str(BENCH))
from mmace.testing import BlockingCopies, OpCounter  # noqa: E402
from profile_summary import device_summary, self_time  # noqa: E402


def test_op_counter_counts_kernels_not_views():
    x = torch.ones(4, 3, requires_grad=True)
    with OpCounter() as ops:
        ops.phase = 'a'
        y = (x * 2).view(12).sum()  # mul, sum; the view launches nothing
        ops.phase = 'b'
        y.backward()  # backward ops are counted too
        ops.phase = None
        x + 1  # paused
    assert ops.counts['a'] == 2
    assert ops.counts['b'] >= 2
    assert sum(ops.counts.values()) == ops.counts['a'] + ops.counts['b']


def test_blocking_copies_are_those_without_non_blocking():
    x = torch.ones(2)
    with BlockingCopies() as copies:
        copies.phase = 'prep'
        x.to('cpu')
        x.to('cpu', non_blocking=True)
        x.to(torch.device('cpu'), torch.float64)
        x.to(torch.float64)  # no device: no transfer
        copies.phase = 'step'
        x.to('cpu')  # the same device outside the host phases: no copy
    assert copies.counts == {'prep': 2}


def test_profile_summary_on_cpu_counts_aten_ops():
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(2):
            torch.ones(3).add(1).mul(2)
    summary = device_summary(prof, 2)
    assert not summary['cuda']
    assert summary['aten_ops'] >= 3  # ones, add, mul (and what they call)
    avg = prof.key_averages()[0]
    assert self_time(avg, cuda=False) == avg.self_cpu_time_total


@pytest.mark.slow
def test_fast_path_removes_syncs_blocking_copies_and_ops(tmp_path):
    out = tmp_path / 'steps.json'
    run_tool([
        PYTHON, BENCH / 'step_profile.py', ACE_DIGITS, '--iters', '6',
        '--skip', '1', '--log-interval', '100', '--count-ops', '--variants',
        'default', 'fast', '--json', out
    ], cwd=tmp_path, timeout=600, env={'OMP_NUM_THREADS': '1'})
    res = json.loads(out.read_text())
    default, fast = res['default'], res['fast']
    # The default path reads every loss term on the host and copies the
    # batch image by image; the fast path does neither between logs.
    assert default['host_reads_per_iter'] > 0 == fast['host_reads_per_iter']
    assert default['blocking_copies_per_iter'] > 0
    assert fast['blocking_copies_per_iter'] == 0
    # Fewer ops in every phase that runs on the device.
    for phase in ('prep', 'step', 'hooks'):
        assert fast[f'ops_{phase}'] < default[f'ops_{phase}'], phase


@pytest.mark.slow
def test_torch_profile_reports_per_step(tmp_path):
    proc = run_tool([
        PYTHON, BENCH / 'step_profile.py', ACE_DIGITS, '--iters', '4',
        '--skip', '1', '--torch-profile', '2', '--log-interval', '100',
        '--variants', 'fast'
    ], cwd=tmp_path, timeout=600, env={'OMP_NUM_THREADS': '1'})
    assert 'fast: per step (2 profiled, CPU: no CUDA events)' in proc.stdout
