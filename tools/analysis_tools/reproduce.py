"""Train (config, seed) jobs, resuming each from its work dir, and print
one table of their results beside the paper's.

    # CE and ACE (the authors' recipe, 280 epochs) on CIFAR-10-LT-100,
    # 3 seeds each, 6 processes at once on one GPU, on the fast path:
    python tools/analysis_tools/reproduce.py --work-dir work_dirs/repro \
        --parallel 6 --fast-path --amp bf16
    # the test-suite-sized run (digits, 2 epochs, 2 seeds) on a CPU:
    python tools/analysis_tools/reproduce.py --smoke --work-dir /tmp/repro

Run it again after an interruption: finished jobs are skipped, the others
resume from their last checkpoint. ``--report`` trains nothing: it prints
the table and each job's validation curve so far (for runs still going).
"""
import argparse
import json
import os.path as osp

from mmengine.config import Config, DictAction

from mmace.analysis.reproduce import (format_curves, format_table,
                                      options_to_args, plan_jobs, run_jobs,
                                      summarize, train_flags)
from mmace.engine.runners.compile import COMPILE_MODES

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEFAULT_CONFIGS = [
    'configs/baseline/ce_r32_cifar10-lt-100_280e.py',
    'configs/ace/authors/ace-authors_r32_cifar10-lt-100.py',
]
SMOKE_CONFIGS = [
    'configs/quickstart/ce_r32_digits-lt.py',
    'configs/quickstart/ace_r32_digits-lt.py',
]
SMOKE_OPTIONS = {'train_cfg.max_epochs': 2, 'train_cfg.val_interval': 1}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--configs', nargs='+', help='config files '
                        f'(default: {" ".join(DEFAULT_CONFIGS)})')
    parser.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2])
    parser.add_argument('--work-dir', required=True,
                        help='root of the jobs\' work dirs')
    parser.add_argument('--parallel', type=int, default=1,
                        help='jobs running at once')
    parser.add_argument('--smoke', action='store_true',
                        help='digits CE + ACE, 2 epochs, seeds 0 and 1')
    parser.add_argument('--fast-path', action='store_true',
                        help='tools/train.py --fast-path for every job')
    parser.add_argument('--amp', choices=['fp16', 'bf16'],
                        help='tools/train.py --amp for every job')
    parser.add_argument('--channels-last', action='store_true',
                        help='tools/train.py --channels-last for every job')
    parser.add_argument('--compile', nargs='?', const=True, metavar='MODE',
                        choices=COMPILE_MODES,
                        help='tools/train.py --compile [MODE] for every job')
    parser.add_argument('--report', action='store_true',
                        help='train nothing: the table and the validation '
                        'curves of what the work dirs hold')
    parser.add_argument('--out', help='write the table as JSON here')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        default={}, help='overrides for every job')
    return parser.parse_args()


def main():
    args = parse_args()
    configs = args.configs or (SMOKE_CONFIGS
                               if args.smoke else DEFAULT_CONFIGS)
    configs = [c if osp.isabs(c) or osp.exists(c) else osp.join(REPO, c)
               for c in configs]
    seeds = [0, 1] if args.smoke else args.seeds
    options = dict(SMOKE_OPTIONS if args.smoke else {}, **args.cfg_options)
    train_args = train_flags(args.fast_path, args.amp, args.channels_last,
                             args.compile)
    jobs, max_epochs = [], {}
    for config in configs:
        cfg = Config.fromfile(config)
        cfg.merge_from_dict(options)
        extra = dict(options)
        if str(cfg.model.get('head', {}).get('type', '')) == 'ACEHead':
            extra['model.head.return_expert_scores'] = True
        new = plan_jobs([config], seeds, args.work_dir,
                        options_to_args(extra), train_args)
        max_epochs[new[0].name] = cfg.train_cfg.max_epochs
        jobs += new
    codes = {} if args.report else run_jobs(
        jobs, osp.join(REPO, 'tools', 'train.py'), args.parallel, max_epochs)
    rows = summarize(jobs)
    print(format_table(rows))
    if args.report:
        print(format_curves(jobs))
    failed = [d for d, c in codes.items() if c != 0]
    for work_dir in failed:
        print(f'FAILED: {work_dir} (see {work_dir}/reproduce.log)')
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(dict(rows=rows, exit_codes=codes), f, indent=2)
    if failed:
        raise SystemExit(1)


if __name__ == '__main__':
    main()
