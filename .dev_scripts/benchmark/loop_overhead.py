"""What the runner adds on top of the model's own train steps.

Trains one epoch with ``tools/train.py CONFIG`` (no validation; a log entry
every iteration, unsmoothed) and takes the epoch's loop time from mmengine's
``IterTimerHook`` (the sum of the per-iteration ``time``: data loading,
preprocessing, the step, every hook and the logging). Then, in this
process, runs the same number of ``model.train_step`` calls with the same
model (built from the same config, same class counts, same optimizer
wrapper) and batch sizes on one in-memory batch of real samples (the
pipeline applied once): the data preprocessor, Mixup, forward, backward
and SGD, nothing else. The ratio runner / plain is the loop's overhead
(target <= ``--tolerance``).

``--variant OPTIONS`` trains one more epoch with extra ``--cfg-options``
(e.g. ``train_dataloader.dataset.dataset.decode_once=False``) and reports
its epoch time beside the default one.

On a GPU the plain steps run on the same device as the runner (the
model, its data preprocessor and the batches; synchronised around the
timed loop), ``--fast-path`` / ``--amp`` apply to both, and the script
prints what it is doing as it goes (the runner's log lines too), since
the dataset is built (decoded) twice: once in the runner's process and
once here.

Example:
    python .dev_scripts/benchmark/loop_overhead.py \\
        configs/ace/ace_r32_cifar10-lt-100.py --json loop.json
    python .dev_scripts/benchmark/loop_overhead.py \\
        configs/ace/authors/ace-authors_r32_cifar100-lt-100.py \\
        --fast-path --amp bf16
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from benchmark_ace import print_table  # same folder: on sys.path as a script
from mmengine.config import Config, DictAction

REPO = Path(__file__).resolve().parents[2]


def parse_args():
    parser = argparse.ArgumentParser(
        description='One runner epoch vs the same plain train steps')
    parser.add_argument('config')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        default={}, help='for both the runner and the model')
    parser.add_argument(
        '--variant', nargs='+', default=None, metavar='KEY=VALUE',
        help='also time a runner epoch with these extra --cfg-options')
    parser.add_argument('--tolerance', type=float, default=1.10)
    parser.add_argument(
        '--synthetic', action='store_true',
        help='train on random CIFAR-shaped images (synthetic_cifar.py) '
        'instead of the config\'s data')
    parser.add_argument('--synthetic-images', type=int, default=50000,
                        help='how many, before the long-tail subset')
    parser.add_argument('--fast-path', action='store_true',
                        help='tools/train.py --fast-path, and the same '
                        'config rewrite for the plain steps')
    parser.add_argument('--amp', choices=['fp16', 'bf16'],
                        help='tools/train.py --amp, and the same wrapper '
                        'for the plain steps')
    parser.add_argument(
        '--device', default='cuda' if torch.cuda.is_available() else 'cpu',
        help='device of the plain steps (the runner picks its own: CUDA '
        'when there is one)')
    parser.add_argument('--work-dir', help='default: a temporary folder')
    parser.add_argument('--json', help='dump every number to this file')
    return parser.parse_args()


def option_args(options: dict):
    return [f'{k}={v!r}' if isinstance(v, str) else f'{k}={v}'
            for k, v in options.items()]


def say(message):
    print(f'[loop_overhead] {message}', flush=True)


def runner_epoch(config, options, work_dir, flags=()):
    """Train one epoch with tools/train.py; its per-iteration times."""
    cmd = [
        sys.executable,
        str(REPO / 'tools/train.py'), config, '--work-dir', work_dir,
        '--no-validate', *flags, '--cfg-options', 'train_cfg.max_epochs=1',
        # Each iteration's own time: mmengine logs `time` / `data_time` as
        # a mean over `window_size` iterations (10 by default), whose sum
        # is not the epoch's loop time.
        'default_hooks.logger.interval=1', 'log_processor.window_size=1',
        *options
    ]
    say(f'runner epoch: {" ".join(cmd)}')
    start = time.perf_counter()
    # The runner's log as it comes (every 10th iteration line), so a long
    # dataset build or a slow epoch shows where it is.
    # This folder on the path: synthetic_cifar for --synthetic configs.
    path = os.pathsep.join(
        p for p in (str(Path(__file__).resolve().parent),
                    os.environ.get('PYTHONPATH')) if p)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True,
                            env=dict(os.environ, PYTHONUNBUFFERED='1',
                                     PYTHONPATH=path))
    tail, iters = [], 0
    for line in proc.stdout:
        tail = (tail + [line])[-60:]
        if 'Epoch(train)' in line:
            iters += 1
            if iters % 10 == 1:
                say(f'  runner: {line.strip()[:160]}')
        elif 'Traceback' in line or 'Error' in line:
            say(f'  runner: {line.rstrip()}')
    proc.wait()
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f'{" ".join(cmd)} failed:\n{"".join(tail)}')
    say(f'runner epoch done in {wall:.1f} s (process wall)')
    scalars = sorted(Path(work_dir).glob('*/vis_data/scalars.json'))[-1]
    iters = [json.loads(line) for line in scalars.read_text().splitlines()]
    iters = [r for r in iters if 'time' in r and 'loss' in r]
    return dict(
        command=' '.join(cmd),
        iters=len(iters),
        loop_s=sum(r['time'] for r in iters),
        data_s=sum(r['data_time'] for r in iters),
        first_iter_s=iters[0]['time'],
        process_wall_s=wall)


def plain_steps(config, options, num_iters, device='cpu', fast_path=False,
                amp=None):
    """``model.train_step`` on an in-memory batch, as often as the epoch,
    on ``device``."""
    import mmace  # noqa: F401
    from mmengine.logging import MMLogger
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS

    from mmace.engine.fast_path import fast_path_config, set_amp
    from mmace.engine.runners.long_tail_runner import fill_auto_class_counts
    init_default_scope('mmpretrain')
    MMLogger.get_instance('loop_overhead', log_level='WARNING')
    cfg = Config.fromfile(config)
    cfg.merge_from_dict(options)
    if fast_path:
        cfg = fast_path_config(cfg)
    set_amp(cfg, amp)
    say('plain steps: counting classes (builds the training set)')
    counts = fill_auto_class_counts(cfg)
    cfg.model.setdefault('data_preprocessor', cfg.get('data_preprocessor'))
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.to(device)
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    # The runner's model layout (the ChannelsLastHook of custom_hooks).
    from mmace.engine.hooks.channels_last_hook import apply_config_layout
    apply_config_layout(cfg, model)
    batch = cfg.train_dataloader.batch_size
    total = sum(counts)
    sizes = [batch] * (total // batch) + ([total % batch]
                                          if total % batch else [])
    if len(sizes) != num_iters:
        raise SystemExit(f'{len(sizes)} batches of {batch} from {total} '
                         f'samples, but the runner ran {num_iters}')
    # One batch of real samples (pipeline applied once), kept in memory.
    from mmengine.dataset import default_collate, pseudo_collate
    from mmpretrain.registry import DATASETS
    say('plain steps: building the dataset for one in-memory batch')
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    samples = [dataset[i] for i in range(batch)]
    collate = default_collate if fast_path else pseudo_collate
    batches = {n: collate(samples[:n]) for n in set(sizes)}
    if device != 'cpu' and fast_path:
        # As the fast path's loader hands them over: pinned.
        for data in batches.values():
            data['inputs'] = data['inputs'].pin_memory()
    sync = torch.cuda.synchronize if device.startswith('cuda') else (
        lambda: None)
    model.train()
    model.train_step(batches[batch], optim)  # warm-up, untimed
    say(f'plain steps: timing {len(sizes)} train_step calls on {device}')
    sync()
    start = time.perf_counter()
    for n in sizes:
        model.train_step(batches[n], optim)
    sync()
    return dict(steps=len(sizes), seconds=time.perf_counter() - start,
                device=device)


def steady_ratio(run: dict, plain: dict) -> float:
    """Runner / plain without the first iteration of either.

    The runner's first iteration starts the dataloader workers and touches
    everything once; the plain loop's warm-up step is untimed likewise.
    """
    per_plain_step = plain['seconds'] / plain['steps']
    return (run['loop_s'] - run['first_iter_s']) / (
        per_plain_step * (plain['steps'] - 1))


def main():
    args = parse_args()
    options = option_args(args.cfg_options)
    flags = (['--fast-path'] if args.fast_path else []) + (
        ['--amp', args.amp] if args.amp else [])
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work_dir or tmp
        config = args.config
        if args.synthetic:
            from synthetic_cifar import synthetic_config  # same folder
            config = synthetic_config(config, osp.join(tmp, 'synthetic.py'),
                                      args.synthetic_images)
        runs = dict(default=runner_epoch(config, options,
                                         osp.join(work, 'default'), flags))
        if args.variant:
            runs['variant'] = runner_epoch(config,
                                           options + list(args.variant),
                                           osp.join(work, 'variant'), flags)
        plain = plain_steps(config, args.cfg_options,
                            runs['default']['iters'], args.device,
                            args.fast_path, args.amp)
    ratio = runs['default']['loop_s'] / plain['seconds']
    steady = steady_ratio(runs['default'], plain)
    print(f'\n{args.config}: one epoch {" ".join(flags)}, plain steps on '
          f'{args.device}, torch threads {torch.get_num_threads()}, '
          'OMP_NUM_THREADS='
          f'{os.environ.get("OMP_NUM_THREADS", "(unset)")}')
    rows = [('', 'iters', 'loop [s]', 'data wait [s]', 'first iter [s]',
             'process wall [s]')]
    for name, r in runs.items():
        rows.append((f'tools/train.py ({name})', r['iters'],
                     f'{r["loop_s"]:.1f}', f'{r["data_s"]:.1f}',
                     f'{r["first_iter_s"]:.2f}', f'{r["process_wall_s"]:.1f}'))
    rows.append(('plain model.train_step, in-memory', plain['steps'],
                 f'{plain["seconds"]:.1f}', '-', '-', '-'))
    print_table(rows)
    print(f'\nrunner overhead: {ratio:.3f} x the plain steps -> '
          f'{"PASS" if ratio <= args.tolerance else "FAIL"} '
          f'(target <= {args.tolerance})')
    print(f'steady state (first iteration left out of both): '
          f'{steady:.3f} x')
    if 'variant' in runs:
        var = runs['variant']
        print(f'variant vs plain: {var["loop_s"] / plain["seconds"]:.3f} x '
              f'(steady state {steady_ratio(var, plain):.3f} x)')
        v = runs['variant']['loop_s'] / runs['default']['loop_s']
        print(f'variant {" ".join(args.variant)}: epoch loop {v:.3f} x the '
              'default one')
    if args.json:
        Path(args.json).write_text(
            json.dumps(dict(runs=runs, plain=plain, overhead=ratio,
                            steady_overhead=steady), indent=2))


if __name__ == '__main__':
    main()
