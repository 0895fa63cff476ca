"""Where the time of a training iteration goes, with and without the fast
path (``tools/train.py --fast-path``, ``mmace.engine.fast_path_config``).

Builds the runner of CONFIG (as ``tools/train.py`` does), trains
``--iters`` iterations and splits each one into: waiting for the
dataloader, the data preprocessor (stacking, crop/flip on the device,
normalisation, Mixup), the rest of ``train_step`` (forward, loss,
backward, optimizer), and the hooks around the step. It also counts the
host reads of tensors (``item``, ``float``, ``bool``, ``tolist``, ...) per
iteration outside the logging iterations: each is a device sync on a GPU.

Example (CPU, 1 thread, both variants one after the other):
    OMP_NUM_THREADS=1 python .dev_scripts/benchmark/step_profile.py \\
        configs/ace/authors/ace-authors_r32_cifar10-lt-100.py \\
        --iters 40 --variants default fast
"""
import argparse
import json
import statistics
import tempfile
import time

import torch
from mmengine.config import Config, DictAction
from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS, RUNNERS

from mmace.engine import fast_path_config
from mmace.testing import HostReads


class Stop(Exception):
    pass


class Probe:
    """Timestamps and host-read counts of every iteration."""

    def __init__(self, iters: int, reads: HostReads):
        self.iters = iters
        self.rows = []
        self.marks = {}
        self.reads = reads
        self.prep = 0.
        self.last_end = None


def make_hooks(probe: Probe):

    class First(Hook):
        priority = 'HIGHEST'

        def before_train_iter(self, runner, batch_idx, data_batch=None):
            probe.marks = dict(t0=time.perf_counter())
            probe.reads.reset()
            probe.reads.active = True
            probe.prep = 0.

        def after_train_iter(self, runner, batch_idx, data_batch=None,
                             outputs=None):
            probe.marks['t2'] = time.perf_counter()

    class Last(Hook):
        priority = 'LOWEST'

        def before_train_iter(self, runner, batch_idx, data_batch=None):
            probe.marks['t1'] = time.perf_counter()

        def after_train_iter(self, runner, batch_idx, data_batch=None,
                             outputs=None):
            t3 = time.perf_counter()
            probe.reads.active = False
            m = probe.marks
            data = m['t0'] - probe.last_end if probe.last_end else None
            probe.rows.append(
                dict(data=data, prep=probe.prep,
                     step=m['t2'] - m['t1'] - probe.prep,
                     hooks=(m['t1'] - m['t0']) + (t3 - m['t2']),
                     reads=probe.reads.total))
            probe.last_end = t3
            if len(probe.rows) >= probe.iters:
                raise Stop

    return First, Last


def run_variant(config, variant, iters, options, log_interval):
    cfg = Config.fromfile(config)
    cfg.merge_from_dict(options)
    if variant == 'fast':
        cfg = fast_path_config(cfg)
    cfg.work_dir = tempfile.mkdtemp()
    cfg.default_hooks.logger.interval = log_interval
    cfg.default_hooks.checkpoint = None
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    probe = Probe(iters, HostReads(active=False))
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
        out = forward(*a, **k)
        probe.prep += time.perf_counter() - t
        return out

    prep.forward = timed
    try:
        with probe.reads:
            runner.train()
    except Stop:
        pass
    return probe.rows


def summarize(rows, skip, log_interval):
    rows = rows[skip:]
    out = {}
    for key in ('data', 'prep', 'step', 'hooks'):
        values = [r[key] for r in rows if r[key] is not None]
        out[key + '_ms'] = 1e3 * statistics.median(values)
    total = sum(out[k + '_ms'] for k in ('data', 'prep', 'step', 'hooks'))
    out['iter_ms'] = total
    out['steps_per_s'] = 1e3 / total
    plain = [r['reads'] for i, r in enumerate(rows, skip)
             if (i + 1) % log_interval]
    out['host_reads_per_iter'] = statistics.mean(plain) if plain else None
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config')
    parser.add_argument('--iters', type=int, default=40)
    parser.add_argument('--skip', type=int, default=5,
                        help='first iterations left out of the medians')
    parser.add_argument('--variants', nargs='+', default=['default', 'fast'],
                        choices=['default', 'fast'])
    parser.add_argument('--log-interval', type=int, default=50)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        default={})
    parser.add_argument('--json')
    args = parser.parse_args()
    results = {}
    for variant in args.variants:
        rows = run_variant(args.config, variant, args.iters,
                           args.cfg_options, args.log_interval)
        results[variant] = summarize(rows, args.skip, args.log_interval)
    cols = ['data_ms', 'prep_ms', 'step_ms', 'hooks_ms', 'iter_ms',
            'steps_per_s', 'host_reads_per_iter']
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
