"""Train a model from a config (same command line as mmpretrain's train.py)."""
import argparse
import os
import os.path as osp
import sys

from mmengine.config import Config, DictAction
from mmengine.logging import MMLogger
from mmengine.runner import Runner

from mmpretrain.registry import RUNNERS

from mmace.engine.fast_path import (fast_path_config, set_amp,
                                    set_channels_last)
from mmace.utils.errors import ReportedError


def parse_args():
    parser = argparse.ArgumentParser(description='Train a classifier')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='where to save logs and models')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from a checkpoint; with no value, the latest one in '
        'the work dir')
    parser.add_argument(
        '--amp', nargs='?', const='fp16', choices=['fp16', 'bf16'],
        help='automatic mixed precision training: fp16 (the default, '
        'dynamic loss scale; needs a GPU, on a CPU-only machine training '
        'runs in fp32 with a warning) or bf16 (autocast, no loss scaler)')
    parser.add_argument(
        '--fast-path', action='store_true',
        help='small images on a GPU: random crop and flip on the device, '
        'no per-iteration host-device sync for logging '
        '(mmace.engine.fast_path_config)')
    parser.add_argument(
        '--channels-last', action='store_true',
        help='channels_last activations on CUDA too (ChannelsLastHook)')
    parser.add_argument('--no-validate', action='store_true',
                        help='skip validation during training')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale lr linearly with the total batch size')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings, e.g. train_cfg.max_epochs=30')
    parser.add_argument(
        '--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def merge_args(cfg, args):
    if args.no_validate:
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join(
            './work_dirs', osp.splitext(osp.basename(args.config))[0])
    if args.fast_path:
        cfg = fast_path_config(cfg)
    set_amp(cfg, args.amp)
    if args.channels_last:
        set_channels_last(cfg)
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume is not None:
        cfg.resume, cfg.load_from = True, args.resume
    if args.auto_scale_lr:
        cfg.auto_scale_lr.enable = True
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    return cfg


def main():
    args = parse_args()
    cfg = merge_args(Config.fromfile(args.config), args)
    try:
        if 'runner_type' in cfg:
            runner = RUNNERS.build(cfg)
        else:
            runner = Runner.from_cfg(cfg)
        runner.train()
    except ReportedError as e:
        # The message names the culprit; a traceback would only bury it.
        MMLogger.get_current_instance().error(f'{type(e).__name__}: {e}')
        sys.exit(1)


if __name__ == '__main__':
    main()
