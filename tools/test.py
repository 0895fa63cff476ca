"""Evaluate a checkpoint (same command line as mmpretrain's test.py)."""
import argparse
import os
import os.path as osp
import sys

from mmengine.config import Config, DictAction
from mmengine.logging import MMLogger
from mmengine.runner import Runner

from mmpretrain.registry import RUNNERS

from mmace.utils.errors import ReportedError


def parse_args():
    parser = argparse.ArgumentParser(description='Test a classifier')
    parser.add_argument('config', help='test config file path')
    parser.add_argument(
        'checkpoint',
        help='checkpoint file; its weights must fit the config\'s model '
        '(--cfg-options load_strict=False loads it anyway)')
    parser.add_argument('--work-dir', help='where to save the results')
    parser.add_argument(
        '--out', help='dump the metrics to this file (.json/.pkl/.yaml)')
    parser.add_argument(
        '--expert-scores', action='store_true',
        help='ACE models: also report each expert (overall/many/medium/few)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings')
    parser.add_argument(
        '--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def main():
    args = parse_args()
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join(
            './work_dirs', osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = args.checkpoint
    if args.expert_scores:
        cfg.model.head.return_expert_scores = True
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    try:
        if 'runner_type' in cfg:
            runner = RUNNERS.build(cfg)
        else:
            runner = Runner.from_cfg(cfg)
        metrics = runner.test()
    except ReportedError as e:
        # The message names the culprit; a traceback would only bury it.
        MMLogger.get_current_instance().error(f'{type(e).__name__}: {e}')
        sys.exit(1)
    if args.out and runner.rank == 0:
        import mmengine
        mmengine.dump(metrics, args.out)


if __name__ == '__main__':
    main()
