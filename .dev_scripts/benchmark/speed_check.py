"""CE vs ACE speed on one device, as one table (driver of gpu_check.sh).

ResNet-32 with 100 classes (CIFAR-100-LT-100 counts), batch 128 of 32x32
images, built from ``configs/_base_/models/{resnet32_cifar,
ace_resnet32_cifar}.py``. Rows:

- train step (forward + loss + backward + SGD, on a preprocessed batch) and
  inference throughput in images/s, and the peak device memory of the train
  steps, for CE and ACE with AMP off/on (CUDA only), channels_last off/on
  (``ChannelsLastHook``, as a config switches it on) and
  ``torch.compile`` (of what ``tools/train.py --compile`` compiles: the
  backbone, neck and head loss module; AMP on, if it compiles);
- ``recipe``: the real runner (``LongTailRunner``) training the
  400-epoch ACE recipe ``configs/ace/ace_r32_cifar100-lt-100.py`` for
  ``--recipe-epochs`` epochs on generated data shaped like CIFAR-100
  (50,000 + 10,000 random 32x32 images, the same long-tail subset,
  pipeline, Mixup, validation every 10 epochs and checkpoints), timed per
  epoch and **extrapolated** to 400 epochs.

Compile rows come last and are skipped when ``--budget-s`` would be
exceeded. ``--smoke`` is a CPU-sized run of everything (batch 8, 2 steps,
1 recipe epoch of 2,131 images at batch 32) for tests.

Example:
    python .dev_scripts/benchmark/speed_check.py --json speed.json
    python .dev_scripts/benchmark/speed_check.py --smoke --device cpu
"""
import argparse
import copy
import json
import logging
import os.path as osp
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.logging import MMLogger
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

REPO = Path(__file__).resolve().parents[2]
ACE_CFG = REPO / 'configs/_base_/models/ace_resnet32_cifar.py'
CE_CFG = REPO / 'configs/_base_/models/resnet32_cifar.py'
RECIPE = REPO / 'configs/ace/ace_r32_cifar100-lt-100.py'
# configs/_base_/datasets/cifar100_lt.py
MEAN = [129.304, 124.070, 112.434]
STD = [68.170, 65.392, 70.418]
SGD = dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=2e-4)
RECIPE_EPOCHS = 400


def parse_args():
    parser = argparse.ArgumentParser(
        description='CE vs ACE throughput (AMP, channels_last, compile), '
        'peak memory and an extrapolated 400-epoch recipe time')
    parser.add_argument(
        '--device',
        default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--batch-size', type=int, default=128)
    parser.add_argument('--iters', type=int, default=30,
                        help='timed steps per row')
    parser.add_argument('--warmup', type=int, default=10,
                        help='untimed steps before each row')
    parser.add_argument('--recipe-epochs', type=int, default=20,
                        help='epochs of the recipe slice (0: skip it)')
    parser.add_argument('--no-compile', action='store_true',
                        help='skip the torch.compile rows')
    parser.add_argument(
        '--budget-s', type=float, default=450,
        help='skip the compile rows that would start after this many '
        'seconds (the whole check must fit in 8 minutes)')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch.set_num_threads (default: leave it)')
    parser.add_argument(
        '--smoke', action='store_true',
        help='tiny CPU-sized run of every row (batch 8, 2 steps, a 1-epoch '
        'recipe slice on a few hundred images), for tests')
    parser.add_argument('--work-dir', help='recipe work dir (default: tmp)')
    parser.add_argument('--json', help='dump the rows to this file')
    args = parser.parse_args()
    if args.smoke:
        args.batch_size = min(args.batch_size, 8)
        args.iters, args.warmup = 2, 1
        args.recipe_epochs = min(args.recipe_epochs, 1)
    return args


def lt_counts(num_classes=100, imb_factor=100., max_count=500):
    """CIFAR-100-LT-100 class counts (Cao et al. exponential profile)."""
    exps = np.arange(num_classes) / (num_classes - 1)
    return (max_count * imb_factor**(-exps)).astype(np.int64)


def build_model(cfg_file, counts, device):
    from mmpretrain.registry import MODELS
    cfg = Config.fromfile(cfg_file).model
    cfg.head.num_classes = len(counts)
    if cfg.head.type == 'ACEHead':
        cfg.head.class_counts = counts.tolist()
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)  # the per-parameter init report
    model = MODELS.build(cfg)
    model.init_weights()
    logger.setLevel(level)
    return model.to(device)


def make_batch(counts, batch_size, device):
    """A preprocessed batch (inputs, data samples) for ``model``."""
    from mmpretrain.structures import DataSample
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (batch_size, 3, 32, 32), generator=gen,
                           dtype=torch.uint8)
    probs = torch.as_tensor(counts, dtype=torch.float)
    labels = torch.multinomial(probs, batch_size, True, generator=gen)
    samples = [DataSample().set_gt_label(label) for label in labels]
    from mmpretrain.registry import MODELS
    pre = MODELS.build(
        dict(type='ClsDataPreprocessor', num_classes=len(counts), mean=MEAN,
             std=STD, to_rgb=False)).to(device)
    data = pre(dict(inputs=images, data_samples=samples), training=True)
    return data['inputs'], data['data_samples']


def timed(fn, warmup, iters, sync):
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(base, counts, args, amp, channels_last, compile_, sync):
    """One row: train and inference images/s and peak memory."""
    device = torch.device(args.device)
    cuda = device.type == 'cuda'
    model = copy.deepcopy(base)
    inputs, samples = make_batch(counts, args.batch_size, device)
    if channels_last:  # as configs do it: ChannelsLastHook
        from mmace.engine.hooks import ChannelsLastHook
        ChannelsLastHook(devices=(device.type, )).convert(model)
        inputs = inputs.contiguous(memory_format=torch.channels_last)
    ace = type(model.head).__name__ == 'ACEHead'
    wrapper = dict(type='AmpOptimWrapper', loss_scale='dynamic') if amp \
        else dict(type='OptimWrapper')
    cfg = dict(wrapper, optimizer=SGD)
    if ace:
        cfg['constructor'] = 'ACEOptimWrapperConstructor'
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)  # the ACE lr table, once per row
    optim = build_optim_wrapper(model, cfg)
    logger.setLevel(level)
    if compile_:
        # What tools/train.py --compile compiles: backbone, neck, head loss.
        from mmace.engine.runners.compile import compile_model_parts
        compile_model_parts(model, {})

    def train():
        with optim.optim_context(model):
            losses = model(inputs, samples, mode='loss')
        loss, _ = model.parse_losses(losses)
        optim.update_params(loss)

    def infer():
        with torch.no_grad(), torch.autocast(device.type, enabled=amp):
            model(inputs, mode='tensor')

    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    model.train()
    start = time.perf_counter()
    t_train = timed(train, args.warmup, args.iters, sync)
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if cuda else None
    model.eval()
    t_infer = timed(infer, args.warmup, args.iters, sync)
    return dict(
        train_img_s=args.batch_size / t_train,
        infer_img_s=args.batch_size / t_infer,
        peak_mib=peak,
        seconds=time.perf_counter() - start)


# ------------------------------------------------------------ recipe slice
class EpochTimes(Hook):
    """Wall time of every train and val epoch."""

    priority = 'VERY_LOW'

    def __init__(self):
        self.train, self.val = [], []

    def before_train_epoch(self, runner):
        self._t = time.perf_counter()

    def after_train_epoch(self, runner):
        self.train.append(time.perf_counter() - self._t)

    def before_val_epoch(self, runner):
        self._v = time.perf_counter()

    def after_val_epoch(self, runner, metrics=None):
        self.val.append(time.perf_counter() - self._v)


def recipe_slice(args, work_dir):
    """Train the ACE CIFAR-100-LT-100 recipe for a few epochs; times."""
    from mmpretrain.registry import RUNNERS

    # Same folder; registers SpeedCheckCIFAR (random 32x32 images).
    import synthetic_cifar  # noqa: F401
    cfg = Config.fromfile(str(RECIPE))
    # Smoke: 100 per class is the least that leaves every class an image
    # at imbalance 100 (2,131 training images).
    per_class, test_per_class = (100, 2) if args.smoke else (500, 100)
    cfg.train_dataloader.dataset.dataset = dict(
        type='SpeedCheckCIFAR', per_class=per_class,
        pipeline=cfg.train_dataloader.dataset.dataset.pipeline)
    cfg.val_dataloader.dataset = dict(
        type='SpeedCheckCIFAR', per_class=test_per_class, seed=1,
        test_mode=True, pipeline=cfg.val_dataloader.dataset.pipeline)
    cfg.test_dataloader = cfg.val_dataloader
    cfg.train_cfg.max_epochs = args.recipe_epochs
    if args.smoke:
        cfg.train_dataloader.batch_size = 32
        cfg.train_cfg.val_interval = 1
        for loader in (cfg.train_dataloader, cfg.val_dataloader):
            loader.num_workers = 0
            loader.persistent_workers = False
    cfg.work_dir = work_dir
    cfg.default_hooks.logger.interval = 10**6  # no per-iter log lines
    cfg.launcher = 'none'
    cfg.log_level = 'WARNING'  # keep the output to the one table
    if args.device == 'cpu':
        cfg.env_cfg = dict(cfg.get('env_cfg', {}), cudnn_benchmark=False)
    timer = EpochTimes()
    runner = RUNNERS.build(cfg)
    runner.register_hook(timer)
    if args.device == 'cuda':
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    runner.train()
    wall = time.perf_counter() - start
    n_train = len(runner.train_dataloader.dataset)
    val_interval = cfg.train_cfg.val_interval
    # Epoch 1 carries the start-up (workers, cuDNN, allocator): counted
    # once; the rest scale with the number of epochs.
    steady = statistics.mean(timer.train[1:]) if len(timer.train) > 1 \
        else timer.train[0]
    val = statistics.mean(timer.val) if timer.val else 0.
    total = timer.train[0] + steady * (RECIPE_EPOCHS - 1) + \
        val * (RECIPE_EPOCHS // val_interval)
    return dict(
        epochs=len(timer.train),
        wall_s=wall,
        train_epoch_s=timer.train,
        val_epoch_s=timer.val,
        val_interval=val_interval,
        images_per_epoch=n_train,
        train_img_s=n_train / steady,
        peak_mib=torch.cuda.max_memory_allocated() / 2**20
        if args.device == 'cuda' else None,
        extrapolated_400_epochs_s=total)


def main():
    args = parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    import mmace  # noqa: F401  registers mmace's modules
    init_default_scope('mmpretrain')
    MMLogger.get_instance('speed_check', log_level='WARNING')
    device = torch.device(args.device)
    cuda = device.type == 'cuda'
    t0 = time.perf_counter()

    def sync():
        if cuda:
            torch.cuda.synchronize(device)

    counts = lt_counts()
    torch.manual_seed(0)
    models = dict(
        CE=build_model(CE_CFG, counts, device),
        ACE=build_model(ACE_CFG, counts, device))
    rows = []
    amps = (False, True) if cuda else (False, )
    for name, base in models.items():
        for amp in amps:
            for cl in (False, True):
                r = measure(base, counts, args, amp, cl, False, sync)
                rows.append(dict(model=name, amp=amp, channels_last=cl,
                                 compile=False, **r))
                print(f'[{time.perf_counter() - t0:5.0f} s] {name} amp={amp}'
                      f' channels_last={cl}: {r["train_img_s"]:.0f} img/s '
                      'train', flush=True)
    if not cuda:
        for name in models:
            rows.append(dict(model=name, amp=True, note='AMP needs CUDA'))

    recipe = None
    if args.recipe_epochs > 0:
        with tempfile.TemporaryDirectory() as tmp:
            recipe = recipe_slice(args, args.work_dir or osp.join(tmp, 'w'))
        print(f'[{time.perf_counter() - t0:5.0f} s] recipe slice done',
              flush=True)

    if not args.no_compile and not args.smoke:
        for name, base in models.items():
            # Compile the faster eager layout under AMP (fp32 on CPU).
            eager = [r for r in rows if r['model'] == name
                     and r.get('amp') == amps[-1] and 'train_img_s' in r]
            best = max(eager, key=lambda r: r['train_img_s'])
            row = dict(model=name, amp=amps[-1],
                       channels_last=best['channels_last'], compile=True)
            elapsed = time.perf_counter() - t0
            if elapsed + 2 * best['seconds'] + 90 > args.budget_s:
                row['note'] = f'skipped: time budget ({elapsed:.0f} s used)'
            else:
                try:
                    row.update(
                        measure(base, counts, args, amps[-1],
                                best['channels_last'], True, sync))
                except Exception as e:  # report, do not lose the table
                    row['note'] = f'compile failed: {type(e).__name__}: ' \
                        f'{str(e).splitlines()[0][:60] if str(e) else ""}'
            rows.append(row)
            print(f'[{time.perf_counter() - t0:5.0f} s] {name} compile: '
                  f'{row.get("note", "done")}', flush=True)

    print_table(args, rows, recipe, time.perf_counter() - t0)
    if args.json:
        Path(args.json).write_text(
            json.dumps(dict(args=vars(args), rows=rows, recipe=recipe,
                            device_name=device_name(device)), indent=2))


def device_name(device):
    if device.type == 'cuda':
        return torch.cuda.get_device_name(device)
    return f'CPU, {torch.get_num_threads()} threads'


def print_table(args, rows, recipe, elapsed):
    yes = {True: 'on', False: 'off'}
    lines = [('model', 'AMP', 'channels_last', 'compile', 'train img/s',
              'infer img/s', 'peak MiB', 'note')]
    for r in rows:
        lines.append(
            (r['model'], yes[r['amp']], yes.get(r.get('channels_last'), '-'),
             yes.get(r.get('compile'), '-'),
             f'{r["train_img_s"]:.0f}' if 'train_img_s' in r else '-',
             f'{r["infer_img_s"]:.0f}' if 'infer_img_s' in r else '-',
             f'{r["peak_mib"]:.0f}' if r.get('peak_mib') else '-',
             r.get('note', '')))
    if recipe is not None:
        hours = recipe['extrapolated_400_epochs_s'] / 3600
        lines.append(
            ('ACE recipe', 'off', 'per config', 'off',
             f'{recipe["train_img_s"]:.0f}', '-',
             f'{recipe["peak_mib"]:.0f}' if recipe['peak_mib'] else '-',
             f'{recipe["epochs"]} epoch(s) measured in '
             f'{sum(recipe["train_epoch_s"]) + sum(recipe["val_epoch_s"]):.0f}'
             f' s; 400 epochs EXTRAPOLATED: {hours:.2f} h'))
    print(f'\nspeed check: {device_name(torch.device(args.device))}, '
          f'ResNet-32, 100 classes (CIFAR-100-LT-100), batch '
          f'{args.batch_size}, median of {args.iters} steps'
          f'{" (SMOKE: sizes are not meaningful)" if args.smoke else ""}; '
          f'{elapsed:.0f} s in all')
    widths = [max(len(str(line[i])) for line in lines)
              for i in range(len(lines[0]))]
    for j, line in enumerate(lines):
        print('  '.join(
            str(c).ljust(w) if i in (0, 7) else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(line, widths))).rstrip())
        if j == 0:
            print('  '.join('-' * w for w in widths))


if __name__ == '__main__':
    main()
