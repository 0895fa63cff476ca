"""Where the time of a training iteration goes, with and without the fast
path (``tools/train.py --fast-path``, ``mmace.engine.fast_path_config``).

Builds the runner of CONFIG (as ``tools/train.py`` does), trains
``--iters`` iterations and splits each one into: waiting for the
dataloader, the data preprocessor (stacking, crop/flip on the device,
normalisation, Mixup), the rest of ``train_step`` (forward, loss,
backward, optimizer), and the hooks around the step. It also counts the
host reads of tensors (``item``, ``float``, ``bool``, ``tolist``, ...) per
iteration outside the logging iterations: each is a device sync on a GPU.

``--count-ops`` also counts, per phase of an iteration, the ATen operators
dispatched (views left out: on a GPU nearly each one is a kernel launch)
and the device copies requested without ``non_blocking`` (each one a wait
for the device from pinned memory), with ``mmace.testing.op_counts``; the counting
slows the loop, so its times are not speeds then.

Variants: ``default`` (the config as it is), ``fast`` (``fast_path_config``),
``fast-bf16`` (and ``amp='bf16'``) and ``fast-switches-off`` (the fast path
with fused SGD, ``cudnn_benchmark`` and the non-blocking batch copies
switched off again: what the fast path was before them), and
``fast-compile`` / ``fast-bf16-compile`` (those with ``tools/train.py
--compile``: the backbone, neck and head loss module compiled, with
``mode='reduce-overhead'``, CUDA graphs, on a GPU; ``--skip`` should leave
out the compiling iterations).

``--torch-profile N`` runs torch.profiler over the last N of the
``--iters`` iterations and prints, per step, the device's busy time, the
kernel launches and the host syncs (``profile_summary.py``; on a CPU the
ATen op count); the timing medians come from the iterations between
``--skip`` and those. ``--synthetic`` trains on random CIFAR-shaped
images (the class count of the config; ``synthetic_cifar.py``) instead of
the config's data, for machines without it.

Example (CPU, 1 thread, both variants one after the other):
    OMP_NUM_THREADS=1 python .dev_scripts/benchmark/step_profile.py \\
        configs/ace/authors/ace-authors_r32_cifar10-lt-100.py \\
        --iters 40 --variants default fast
    OMP_NUM_THREADS=1 python .dev_scripts/benchmark/step_profile.py \\
        configs/quickstart/ace_r32_digits-lt.py --iters 12 --skip 2 \\
        --log-interval 10 --count-ops
"""
import argparse
import collections
import contextlib
import json
import statistics
import tempfile
import time

from typing import Optional

import torch
from mmengine.config import Config, DictAction
from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS, RUNNERS

from mmace.engine import fast_path_config
from mmace.engine.fast_path import set_compile
from mmace.testing import HostReads
from mmace.testing import BlockingCopies, OpCounter
from profile_summary import device_summary, format_summary

PHASES = ('data', 'prep', 'step', 'hooks')


class Stop(Exception):
    pass


class Probe:
    """Timestamps and host-read counts of every iteration."""

    def __init__(self, iters: int, reads: HostReads, count_ops: bool,
                 profile_from: Optional[int] = None):
        self.iters = iters
        self.profile_from = profile_from
        self.profiler = None
        self.profile = None
        self.rows = []
        self.marks = {}
        self.reads = reads
        self.prep = 0.
        self.last_end = None
        self.ops = OpCounter() if count_ops else None
        self.copies = BlockingCopies() if count_ops else None

    def start_profile(self):
        from torch.profiler import ProfilerActivity, profile
        activities = [ProfilerActivity.CPU]
        if torch.cuda.is_available():
            activities.append(ProfilerActivity.CUDA)
            torch.cuda.synchronize()
        self.profiler = profile(activities=activities)
        self.profiler.__enter__()

    def stop_profile(self):
        if self.profiler is None:
            return
        if torch.cuda.is_available():
            torch.cuda.synchronize()  # every kernel in; subtracted below
        self.profiler.__exit__(None, None, None)
        self.profile = device_summary(self.profiler,
                                      self.iters - self.profile_from,
                                      closing_syncs=1)
        self.profiler = None

    def set_phase(self, phase):
        for counter in (self.ops, self.copies):
            if counter is not None:
                counter.phase = phase

    def take_counts(self) -> dict:
        """Counts since the last call, by phase, and clear them."""
        if self.ops is None:
            return {}
        out = {}
        for phase in PHASES:
            # Profiler annotations (optimizer.step) launch nothing.
            out[f'ops_{phase}'] = sum(
                n for op, n in self.ops.by_op[phase].items()
                if not op.startswith('_record_function'))
            out[f'blocking_copies_{phase}'] = self.copies.counts[phase]
        self.ops.by_op.clear()
        self.ops.counts.clear()
        self.copies.counts.clear()
        return out


def make_hooks(probe: Probe):

    class First(Hook):
        priority = 'HIGHEST'

        def before_train_iter(self, runner, batch_idx, data_batch=None):
            if probe.profile_from == len(probe.rows):
                probe.start_profile()
            probe.marks = dict(t0=time.perf_counter())
            probe.reads.reset()
            probe.reads.active = True
            probe.prep = 0.
            probe.set_phase('hooks')

        def after_train_iter(self, runner, batch_idx, data_batch=None,
                             outputs=None):
            probe.marks['t2'] = time.perf_counter()
            probe.set_phase('hooks')

    class Last(Hook):
        priority = 'LOWEST'

        def before_train_iter(self, runner, batch_idx, data_batch=None):
            probe.marks['t1'] = time.perf_counter()
            probe.set_phase('step')

        def after_train_iter(self, runner, batch_idx, data_batch=None,
                             outputs=None):
            t3 = time.perf_counter()
            probe.reads.active = False
            m = probe.marks
            data = m['t0'] - probe.last_end if probe.last_end else None
            probe.set_phase(None)
            probe.rows.append(
                dict(data=data, prep=probe.prep,
                     step=m['t2'] - m['t1'] - probe.prep,
                     hooks=(m['t1'] - m['t0']) + (t3 - m['t2']),
                     reads=probe.reads.total, **probe.take_counts()))
            probe.set_phase('data')
            probe.last_end = t3
            if len(probe.rows) >= probe.iters:
                probe.stop_profile()
                raise Stop

    return First, Last


#: Options that switch off, after the rewrite, what ``fast-switches-off``
#: leaves out of the fast path.
SWITCHES_OFF = {
    'optim_wrapper.optimizer.fused': False,
    'env_cfg.cudnn_benchmark': False,
    'data_preprocessor.non_blocking': False,
}


def run_variant(config, variant, iters, options, log_interval,
                count_ops=False, profile_from=None, synthetic=False):
    if synthetic:
        from synthetic_cifar import synthetic_config  # same folder
        config = synthetic_config(
            config, tempfile.mkstemp(suffix='.py', prefix='synthetic_')[1])
    cfg = Config.fromfile(config)
    cfg.merge_from_dict(options)
    # Before the rewrite, which reads the logging interval.
    cfg.default_hooks.logger.interval = log_interval
    if variant.startswith('fast'):
        cfg = fast_path_config(
            cfg, amp='bf16' if 'bf16' in variant else None)
    if variant.endswith('-compile'):
        # CUDA graphs where there is CUDA (tools/train.py --compile
        # reduce-overhead); inductor's default mode on a CPU.
        set_compile(cfg, 'reduce-overhead' if torch.cuda.is_available()
                    else None)
    if variant == 'fast-switches-off':
        cfg.merge_from_dict({
            k: v for k, v in SWITCHES_OFF.items()
            if not k.startswith('data_preprocessor') or cfg.data_preprocessor
            .get('type') == 'BatchCropFlipDataPreprocessor'
        })
    cfg.work_dir = tempfile.mkdtemp()
    cfg.default_hooks.checkpoint = None
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    probe = Probe(iters, HostReads(active=False), count_ops, profile_from)
    first, last = make_hooks(probe)
    name = f'_StepProfile{variant}'
    HOOKS.register_module(name=name + 'First', module=first, force=True)
    HOOKS.register_module(name=name + 'Last', module=last, force=True)
    cfg.custom_hooks = list(cfg.get('custom_hooks', [])) + [
        dict(type=name + 'First'), dict(type=name + 'Last')]
    runner = RUNNERS.build(cfg)
    prep = runner.model.data_preprocessor
    forward = prep.forward

    def timed(*a, **k):
        t = time.perf_counter()
        probe.set_phase('prep')
        out = forward(*a, **k)
        probe.set_phase('step')
        probe.prep += time.perf_counter() - t
        return out

    prep.forward = timed
    counters = [c for c in (probe.ops, probe.copies) if c is not None]
    try:
        with probe.reads, contextlib.ExitStack() as stack:
            for counter in counters:
                stack.enter_context(counter)
            runner.train()
    except Stop:
        pass
    return probe.rows, probe.profile


def summarize(rows, skip, log_interval):
    rows = rows[skip:]
    out = {}
    for key in ('data', 'prep', 'step', 'hooks'):
        values = [r[key] for r in rows if r[key] is not None]
        out[key + '_ms'] = 1e3 * statistics.median(values)
    total = sum(out[k + '_ms'] for k in ('data', 'prep', 'step', 'hooks'))
    out['iter_ms'] = total
    out['steps_per_s'] = 1e3 / total
    plain = [r for i, r in enumerate(rows, skip) if (i + 1) % log_interval]
    out['host_reads_per_iter'] = statistics.mean(
        r['reads'] for r in plain) if plain else None
    # Op and copy counts: medians over the iterations between two logs.
    counted = collections.defaultdict(list)
    for row in plain:
        for key, value in row.items():
            if key.startswith(('ops_', 'blocking_copies_')):
                counted[key].append(value)
    for key, values in counted.items():
        out[key] = statistics.median(values)
    if counted:
        out['ops_per_iter'] = sum(out[f'ops_{p}'] for p in PHASES)
        out['blocking_copies_per_iter'] = sum(
            out[f'blocking_copies_{p}'] for p in PHASES)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config')
    parser.add_argument('--iters', type=int, default=40)
    parser.add_argument('--skip', type=int, default=5,
                        help='first iterations left out of the medians')
    parser.add_argument(
        '--variants', nargs='+', default=['default', 'fast'],
        choices=['default', 'fast', 'fast-bf16', 'fast-switches-off',
                 'fast-compile', 'fast-bf16-compile'])
    parser.add_argument('--log-interval', type=int, default=50)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        default={})
    parser.add_argument(
        '--count-ops', action='store_true',
        help='count dispatched ops and blocking copies per phase (slows '
        'the loop: the times are then no speeds)')
    parser.add_argument(
        '--torch-profile', type=int, default=0, metavar='N',
        help='torch.profiler over the last N iterations: device busy time, '
        'kernel launches and host syncs per step')
    parser.add_argument('--synthetic', action='store_true',
                        help='random CIFAR-shaped training images')
    parser.add_argument('--json')
    args = parser.parse_args()
    results = {}
    for variant in args.variants:
        profile_from = args.iters - args.torch_profile \
            if args.torch_profile else None
        if profile_from is not None and profile_from <= args.skip:
            parser.error('--iters must exceed --skip + --torch-profile')
        rows, profile = run_variant(
            args.config, variant, args.iters, args.cfg_options,
            args.log_interval, args.count_ops, profile_from, args.synthetic)
        results[variant] = summarize(rows[:profile_from], args.skip,
                                     args.log_interval)
        if profile is not None:
            results[variant]['profile'] = profile
            print(f'{variant}: {format_summary(profile)}', flush=True)
    cols = ['data_ms', 'prep_ms', 'step_ms', 'hooks_ms', 'iter_ms',
            'steps_per_s', 'host_reads_per_iter']
    if args.count_ops:
        cols = ['host_reads_per_iter', 'ops_per_iter'] + [
            f'ops_{p}' for p in PHASES] + ['blocking_copies_per_iter']
    print('| variant | ' + ' | '.join(cols) + ' |')
    print('| --- ' * (len(cols) + 1) + '|')
    for variant, r in results.items():
        print(f'| {variant} | ' + ' | '.join(
            '-' if r[c] is None else f'{r[c]:.2f}' for c in cols) + ' |')
    print(f'threads: {torch.get_num_threads()}, iterations: {args.iters} '
          f'(medians without the first {args.skip})')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(results, f, indent=2)


if __name__ == '__main__':
    main()
