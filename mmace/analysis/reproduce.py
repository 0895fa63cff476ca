"""Run (config, seed) training jobs, resume them, and tabulate the results.

The library side of ``tools/analysis_tools/reproduce.py``. Each job is one
``tools/train.py`` process with its own work dir ``<root>/<config>/seed<k>``;
a job whose work dir already holds a checkpoint resumes from it (mmengine's
``last_checkpoint`` file, RNG states included), and a job whose last epoch
has already been validated is not run again. Jobs run ``parallel`` at a time:
on one GPU several small CIFAR jobs share the device; on a CPU run one at a
time, or several with one thread each.

The results come from the validation scalars mmengine writes to
``<work_dir>/<timestamp>/vis_data/scalars.json`` (every resumed segment of a
run adds a timestamp folder): the entry of the last validated epoch.
"""
import glob
import json
import math
import os
import os.path as osp
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Union

#: Top-1 of the paper (Tables 2-4) and its CE baseline, by config name.
#: ACE rows are the 3-expert results.
PAPER_TOP1 = {
    'ace_r32_cifar10-lt-100': 81.2,
    'ace-authors_r32_cifar10-lt-100': 81.2,
    'ce_r32_cifar10-lt-100': 69.8,
    'ce_r32_cifar10-lt-100_280e': 69.8,
    'ace_r32_cifar10-lt-50': 84.3,
    'ace-authors_r32_cifar10-lt-50': 84.3,
    'ce_r32_cifar10-lt-50': 75.2,
    'ace_r32_cifar100-lt-100': 49.4,
    'ace-authors_r32_cifar100-lt-100': 49.4,
    'ce_r32_cifar100-lt-100': 38.3,
    'ace_r32_cifar100-lt-50': 50.7,
    'ace-authors_r32_cifar100-lt-50': 50.7,
    'ce_r32_cifar100-lt-50': 42.1,
    'ace_r10_imagenet-lt': 44.0,
    'ace-authors_r10_imagenet-lt': 44.0,
    'ce_r10_imagenet-lt': 20.9,
    'ace_r50_imagenet-lt': 54.7,
    'ace-authors_r50_imagenet-lt': 54.7,
    'ce_r50_imagenet-lt': 41.6,
    'ace_r50_inat2018': 72.9,
    'ace-authors_r50_inat2018': 72.9,
    'ce_r50_inat2018': 66.1,
}
SPLITS = ('top1', 'many', 'medium', 'few')


@dataclass
class Job:
    """One training run: a config with one seed in its own work dir."""
    config: str
    seed: int
    work_dir: str
    cfg_options: List[str] = field(default_factory=list)
    train_args: List[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return osp.splitext(osp.basename(self.config))[0]


def train_flags(fast_path: bool = False, amp: Optional[str] = None,
                channels_last: bool = False,
                compile: Union[bool, str, None] = None) -> List[str]:
    """``tools/train.py`` flags for every job: ``--fast-path``, ``--amp
    AMP``, ``--channels-last``, ``--compile [MODE]`` (``compile=True``:
    ``--compile`` alone, a string: with that mode)."""
    flags = ['--fast-path'] if fast_path else []
    flags += ['--amp', amp] if amp else []
    flags += ['--channels-last'] if channels_last else []
    if compile:
        flags += ['--compile'] + ([] if compile is True else [compile])
    return flags


def plan_jobs(configs: Sequence[str], seeds: Sequence[int], root: str,
              cfg_options: Sequence[str] = (),
              train_args: Sequence[str] = ()) -> List[Job]:
    """One job per (config, seed), work dirs ``<root>/<config>/seed<k>``;
    ``train_args`` are extra ``tools/train.py`` flags (e.g.
    ``['--fast-path', '--amp', 'bf16']``)."""
    jobs = []
    for config in configs:
        if not osp.isfile(config):
            raise FileNotFoundError(f'config {config!r} does not exist')
        name = osp.splitext(osp.basename(config))[0]
        for seed in seeds:
            jobs.append(Job(config, int(seed),
                            osp.join(root, name, f'seed{seed}'),
                            list(cfg_options) +
                            [f'randomness.seed={int(seed)}'],
                            list(train_args)))
    return jobs


def has_checkpoint(work_dir: str) -> bool:
    """Whether mmengine recorded a checkpoint in ``work_dir`` to resume
    from. A recorded checkpoint that is gone is still True: ``--resume``
    then reports it, rather than a silent restart from scratch."""
    return osp.isfile(osp.join(work_dir, 'last_checkpoint'))


def read_scalars(work_dir: str) -> List[dict]:
    """Every scalar entry of every run segment in ``work_dir``, in order."""
    entries = []
    for path in sorted(
            glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))):
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line:
                    entries.append(json.loads(line))
    return entries


def last_validation(work_dir: str) -> Optional[dict]:
    """The metrics of the last validated epoch (``step`` is the epoch)."""
    vals = [e for e in read_scalars(work_dir) if 'accuracy/top1' in e]
    if not vals:
        return None
    return max(vals, key=lambda e: e['step'])


def validation_curve(work_dir: str) -> List[dict]:
    """Every validated epoch of a run, in epoch order, resumed segments
    merged (a re-validated epoch keeps its latest entry): ``epoch`` and the
    overall / split accuracies it logged."""
    by_epoch = {}
    for entry in read_scalars(work_dir):
        if 'accuracy/top1' in entry:
            by_epoch[int(entry['step'])] = {
                split: entry.get(f'accuracy/{split}')
                for split in SPLITS}
    return [dict(epoch=e, **by_epoch[e]) for e in sorted(by_epoch)]


def format_curves(jobs: Sequence[Job]) -> str:
    """Each job's validation curve as text, one line per job:
    ``epoch: top-1 (many / medium / few)``, for runs still going."""
    lines = []
    for job in jobs:
        points = []
        for p in validation_curve(job.work_dir):
            splits = ' / '.join('-' if p[s] is None else f'{p[s]:.1f}'
                                for s in SPLITS[1:])
            points.append(f'{p["epoch"]}: {p["top1"]:.2f} ({splits})')
        lines.append(f'{job.name} seed {job.seed}: ' +
                     (', '.join(points) or 'no validation yet'))
    return '\n'.join(lines)


def job_command(job: Job, train_script: str,
                python: str = sys.executable) -> List[str]:
    """The ``tools/train.py`` command of a job (resuming when it can)."""
    cmd = [python, train_script, job.config, '--work-dir', job.work_dir
           ] + job.train_args
    if has_checkpoint(job.work_dir):
        cmd.append('--resume')
    return cmd + ['--cfg-options'] + job.cfg_options


def run_jobs(jobs: Sequence[Job],
             train_script: str,
             parallel: int = 1,
             max_epochs: Optional[Dict[str, int]] = None,
             env: Optional[dict] = None,
             poll: float = 2.0) -> Dict[str, int]:
    """Run the jobs, ``parallel`` at a time; return each one's exit code.

    A job whose work dir already holds a validation of its last epoch
    (``max_epochs[job.name]``) is skipped (code 0). Each job's output goes
    to ``<work_dir>/reproduce.log``.
    """
    max_epochs = max_epochs or {}
    pending = []
    codes = {}
    for job in jobs:
        done = last_validation(job.work_dir)
        if done is not None and done['step'] >= max_epochs.get(
                job.name, math.inf):
            codes[job.work_dir] = 0
        else:
            pending.append(job)
    running = []
    while pending or running:
        while pending and len(running) < parallel:
            job = pending.pop(0)
            os.makedirs(job.work_dir, exist_ok=True)
            log = open(osp.join(job.work_dir, 'reproduce.log'), 'a')
            proc = subprocess.Popen(
                job_command(job, train_script),
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(os.environ, **(env or {})))
            running.append((job, proc, log))
        for item in list(running):
            job, proc, log = item
            if proc.poll() is not None:
                log.close()
                codes[job.work_dir] = proc.returncode
                running.remove(item)
        if running:
            time.sleep(poll)
    return codes


def mean_std(values: Sequence[float]):
    """Mean and sample standard deviation (None for a single value)."""
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, None
    return mean, math.sqrt(sum((v - mean)**2 for v in values) / (n - 1))


def summarize(jobs: Sequence[Job]) -> List[dict]:
    """One row per config and read-out: mean and std over its seeds.

    Rows: the model (``'model'``) and, where the run logged them
    (``model.head.return_expert_scores=True``), each expert alone
    (``'expert i'``). Each row holds, per split, ``[mean, std]`` over the
    seeds that have a validation, the epochs those validations are from
    and the paper's top-1 for the model row.
    """
    by_config: Dict[str, List[dict]] = {}
    for job in jobs:
        metrics = last_validation(job.work_dir)
        by_config.setdefault(job.name, [])
        if metrics is not None:
            by_config[job.name].append(metrics)
    rows = []
    for name, runs in by_config.items():
        prefixes = [('model', 'accuracy/')]
        i = 1
        while runs and f'accuracy/expert{i}_top1' in runs[0]:
            prefixes.append((f'expert {i}', f'accuracy/expert{i}_'))
            i += 1
        for readout, prefix in prefixes:
            row = dict(config=name, readout=readout, seeds=len(runs),
                       epochs=sorted({int(r['step']) for r in runs}),
                       paper_top1=PAPER_TOP1.get(name)
                       if readout == 'model' else None)
            for split in SPLITS:
                values = [r[prefix + split] for r in runs
                          if prefix + split in r]
                row[split] = list(mean_std(values)) if values else None
            rows.append(row)
    return rows


def format_table(rows: Sequence[dict]) -> str:
    """The rows as a Markdown table (``mean ± std`` over the seeds)."""
    lines = ['| config | read-out | seeds | epoch | top-1 | many | medium | '
             'few | paper top-1 |', '| --- ' * 9 + '|']
    for r in rows:
        cells = []
        for split in SPLITS:
            v = r[split]
            cells.append('-' if v is None else f'{v[0]:.2f}' +
                         ('' if v[1] is None else f' ± {v[1]:.2f}'))
        epochs = ','.join(map(str, r['epochs'])) or '-'
        paper = '' if r['paper_top1'] is None else f'{r["paper_top1"]}'
        lines.append(f'| {r["config"]} | {r["readout"]} | {r["seeds"]} | '
                     f'{epochs} | ' + ' | '.join(cells) + f' | {paper} |')
    return '\n'.join(lines)


def options_to_args(options: dict) -> List[str]:
    """``{'a.b': [1, 2]}`` -> ``['a.b=[1,2]']``, as ``--cfg-options`` reads."""
    def fmt(v):
        if isinstance(v, (list, tuple)):
            inner = ','.join(fmt(x) for x in v)
            return f'[{inner}]' if isinstance(v, list) else f'({inner})'
        return str(v)

    return [f'{k}={fmt(v)}' for k, v in options.items()]
