"""Train one config with several seeds and tabulate mean +- std.

Each seed trains with ``tools/train.py CONFIG --work-dir WORK_DIR/seed{s}
--cfg-options randomness.seed={s} ...``, one after another. A seed already
done (its ``multi_seed.json`` exists) is not trained again; one that was
interrupted resumes from its last checkpoint. The final validation of each
run (many / medium / few / overall top-1 and, with ``--ece-bins``, the
expected calibration error) is collected and printed as a markdown table,
every seed plus mean +- sample standard deviation. A seed whose run fails is
listed as failed (its log is in its work dir) and the others are still
aggregated; the exit status is then 1.

Example:
    python tools/analysis_tools/multi_seed.py \\
        configs/ace/ace_r32_cifar10-lt-100.py --seeds 0 1 2 \\
        --work-dir work_dirs/ms_ace --cfg-options train_cfg.max_epochs=30 \\
        'param_scheduler.1.milestones=[24,27]' --json ace.json
"""
import argparse
import json
import os.path as osp
import subprocess
import sys
import time
from pathlib import Path

from mmace.analysis.reproduce import has_checkpoint, last_validation, mean_std

REPO = Path(__file__).resolve().parents[2]
TRAIN = REPO / 'tools' / 'train.py'
COLUMNS = ('top1', 'many', 'medium', 'few', 'ece', 'ece_many', 'ece_medium',
           'ece_few')
RESULT = 'multi_seed.json'


def parse_args():
    parser = argparse.ArgumentParser(
        description='Run a config with several seeds; markdown table of the '
        'final split accuracies (and ECE) with mean +- std')
    parser.add_argument('config', help='train config file')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument(
        '--work-dir',
        help='runs go to WORK_DIR/seed{s} (default: '
        'work_dirs/multi_seed/<config name>)')
    parser.add_argument(
        '--ece-bins', type=int, default=15,
        help='sets val_evaluator.ece_bins (LongTailAccuracy); 0: no ECE')
    parser.add_argument(
        '--cfg-options', nargs='+', default=[],
        help='passed to tools/train.py as they are (besides the seed)')
    parser.add_argument('--json', help='write every run and the summary '
                        'here')
    return parser.parse_args()


def final_metrics(work_dir: Path):
    """The last validation of a run (over resumes): (epoch, metrics)."""
    best = last_validation(str(work_dir))
    if best is None:
        return None, None
    metrics = {
        key.split('/', 1)[1]: float(value)
        for key, value in best.items() if key.startswith('accuracy/')
    }
    return int(best['step']), metrics


def run_seed(args, seed: int, work_dir: Path) -> dict:
    """Train (or resume, or skip) one seed; return its record."""
    done = work_dir / RESULT
    if done.is_file():
        record = json.loads(done.read_text())
        record['status'] = 'done earlier'
        return record
    cmd = [
        sys.executable,
        str(TRAIN), args.config, '--work-dir',
        str(work_dir)
    ]
    resumed = has_checkpoint(str(work_dir))
    if resumed:
        cmd.append('--resume')
    options = [f'randomness.seed={seed}']
    if args.ece_bins:
        options.append(f'val_evaluator.ece_bins={args.ece_bins}')
    cmd += ['--cfg-options', *options, *args.cfg_options]
    log = work_dir / 'multi_seed_train.log'
    try:
        work_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        return dict(seed=seed, status='failed', error=str(e), cmd=cmd)
    start = time.time()
    with open(log, 'a') as f:
        rc = subprocess.call(cmd, stdout=f, stderr=subprocess.STDOUT,
                             cwd=Path.cwd())
    record = dict(seed=seed, cmd=cmd, log=str(log),
                  minutes=round((time.time() - start) / 60, 2))
    epoch, metrics = final_metrics(work_dir)
    if rc != 0 or metrics is None:
        why = f'exit {rc}' if rc != 0 else 'no validation result'
        record.update(status='failed', error=why)
        return record
    record.update(status='resumed' if resumed else 'trained', epoch=epoch,
                  metrics=metrics)
    done.write_text(json.dumps(record, indent=2))
    return record


def summarize(records):
    ok = [r for r in records if r.get('metrics')]
    columns = [c for c in COLUMNS if any(c in r['metrics'] for r in ok)]
    summary = {}
    for c in columns:
        values = [r['metrics'][c] for r in ok if c in r['metrics']]
        mean, std = mean_std(values)
        summary[c] = dict(mean=mean, std=std, n=len(values))
    return columns, summary


def markdown(records, columns, summary) -> str:
    head = ['seed', 'status', 'epoch'] + list(columns)
    lines = ['| ' + ' | '.join(head) + ' |',
             '|' + '---|' * len(head)]
    for r in records:
        if r.get('metrics'):
            cells = [str(r['seed']), r['status'], str(r['epoch'])] + [
                f'{r["metrics"][c]:.2f}' if c in r['metrics'] else '-'
                for c in columns
            ]
        else:
            cells = [str(r['seed']), f'failed ({r["error"]})', '-'
                     ] + ['-'] * len(columns)
        lines.append('| ' + ' | '.join(cells) + ' |')
    if summary:
        n = max(s['n'] for s in summary.values())
        cells = [f'mean ± std (n={n})', '', '']
        for c in columns:
            s = summary[c]
            cells.append(f'{s["mean"]:.2f} ± {s["std"]:.2f}'
                         if s['std'] is not None else f'{s["mean"]:.2f}')
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def main():
    args = parse_args()
    work_root = Path(args.work_dir or osp.join(
        'work_dirs', 'multi_seed',
        osp.splitext(osp.basename(args.config))[0]))
    records = []
    for seed in args.seeds:
        work_dir = work_root / f'seed{seed}'
        print(f'seed {seed}: {work_dir} ...', flush=True)
        record = run_seed(args, seed, work_dir)
        records.append(record)
        if record.get('metrics'):
            print(f'seed {seed}: {record["status"]}, epoch '
                  f'{record["epoch"]}, top-1 {record["metrics"]["top1"]:.2f}',
                  flush=True)
        else:
            print(f'seed {seed}: FAILED ({record["error"]}); see '
                  f'{record.get("log", work_dir)}', flush=True)
    columns, summary = summarize(records)
    print(f'\n{args.config}, seeds {" ".join(map(str, args.seeds))}'
          + (f', --cfg-options {" ".join(args.cfg_options)}'
             if args.cfg_options else '') +
          '\n(top-1 in %; many/medium/few: mean per-class top-1 of the split;'
          ' ece: expected calibration error in %; std: sample std)\n')
    print(markdown(records, columns, summary))
    if args.json:
        Path(args.json).write_text(
            json.dumps(dict(config=args.config, runs=records,
                            summary=summary), indent=2))
        print(f'\nwritten to {args.json}')
    failed = [r['seed'] for r in records if not r.get('metrics')]
    if failed:
        print(f'\n{len(failed)} of {len(records)} seeds failed: {failed}')
        sys.exit(1)


if __name__ == '__main__':
    main()
