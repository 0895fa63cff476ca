"""What a torch.profiler trace says about the device, per step.

:func:`device_summary` reads a finished ``torch.profiler.profile`` and
returns, per profiled step: the device's busy time (kernels, copies and
memsets, summed), the kernel launches (CUDA runtime/driver launch calls),
the host syncs (``cudaStreamSynchronize`` / ``cudaDeviceSynchronize`` /
``cudaEventSynchronize``) and the copies (``cudaMemcpy*``) the host asked
for. Without CUDA events (a CPU run) it counts the ATen operators instead,
so the same tool runs, and is tested, on a CPU.

:func:`self_time` is an op's self time on the device (CUDA) or the CPU,
under the attribute name the installed torch uses
(``self_device_time_total`` since torch 2.4, ``self_cuda_time_total``
before).
"""
from torch.autograd import DeviceType

#: Runtime / driver calls that launch work on the device.
LAUNCHES = ('cudaLaunchKernel', 'cudaLaunchKernelExC', 'cuLaunchKernel',
            'cuLaunchKernelEx', 'cudaLaunchCooperativeKernel',
            'cudaGraphLaunch')
#: Calls that make the host wait for the device.
SYNCS = ('cudaStreamSynchronize', 'cudaDeviceSynchronize',
         'cudaEventSynchronize')
#: Copies the host asked for (``cudaMemcpy`` itself also waits).
COPIES = ('cudaMemcpy', 'cudaMemcpyAsync', 'cuMemcpyAsync', 'cuMemcpy',
          'cudaMemcpy2DAsync')


def self_time(event, cuda: bool) -> float:
    """Self time in microseconds of a profiler event or average."""
    if not cuda:
        return event.self_cpu_time_total
    for name in ('self_device_time_total', 'self_cuda_time_total'):
        if hasattr(event, name):
            return getattr(event, name)
    return 0.


def device_summary(prof, steps: int, closing_syncs: int = 0) -> dict:
    """Per-step device numbers of a profile over ``steps`` steps;
    ``closing_syncs``: the host syncs the caller added to end the trace
    with every kernel in it (not the steps'), left out of ``host_syncs``."""
    averages = prof.key_averages()
    by_name = {}
    busy_us, device_events = 0., 0
    for avg in averages:
        by_name[avg.key] = by_name.get(avg.key, 0) + avg.count
        if avg.device_type == DeviceType.CUDA:
            busy_us += self_time(avg, True)
            device_events += avg.count
    out = dict(steps=steps, cuda=device_events > 0)
    if out['cuda']:
        out.update(
            device_busy_ms=busy_us / 1e3 / steps,
            kernel_launches=sum(by_name.get(n, 0) for n in LAUNCHES) / steps,
            host_syncs=(sum(by_name.get(n, 0) for n in SYNCS) -
                        closing_syncs) / steps,
            memcpy_calls=sum(by_name.get(n, 0) for n in COPIES) / steps,
            syncs_by_call={n: by_name[n] / steps
                           for n in SYNCS + COPIES if by_name.get(n)})
    else:
        out.update(
            cpu_self_ms=sum(a.self_cpu_time_total
                            for a in averages) / 1e3 / steps,
            aten_ops=sum(a.count for a in averages
                         if a.key.startswith('aten::')) / steps)
    return out


def format_summary(summary: dict) -> str:
    """One line for logs."""
    if summary['cuda']:
        return (f'per step ({summary["steps"]} profiled): device busy '
                f'{summary["device_busy_ms"]:.3f} ms, kernel launches '
                f'{summary["kernel_launches"]:.1f}, host syncs '
                f'{summary["host_syncs"]:.2f}, memcpy calls '
                f'{summary["memcpy_calls"]:.2f} {summary["syncs_by_call"]}')
    return (f'per step ({summary["steps"]} profiled, CPU: no CUDA events): '
            f'CPU self time {summary["cpu_self_ms"]:.1f} ms, aten ops (all '
            f'levels) {summary["aten_ops"]:.1f}')
