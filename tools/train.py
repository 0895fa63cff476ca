"""Train a model from a config (same command line as mmpretrain's train.py)."""
import argparse

from mmace.engine.fast_path import (fast_path_config, set_amp,
                                    set_channels_last, set_compile)
from mmace.engine.runners.compile import COMPILE_MODES
from mmace.utils.cli import add_runner_args, config_from_args, run_config


def parse_args():
    parser = argparse.ArgumentParser(description='Train a classifier')
    parser.add_argument('config', help='train config file path')
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
        help='small images on a GPU: the pipeline\'s final RandomCrop / '
        'RandomFlip on the device (same options), non-blocking batch '
        'copies, fused SGD, cudnn.benchmark, no per-iteration host-device '
        'sync for logging (mmace.engine.fast_path_config; applied after '
        '--cfg-options)')
    parser.add_argument(
        '--compile', nargs='?', const=True, metavar='MODE',
        choices=COMPILE_MODES,
        help='torch.compile the backbone, neck and head loss module '
        '(the config\'s `compile`; MODE is torch.compile\'s mode, e.g. '
        'reduce-overhead for CUDA graphs on a GPU)')
    parser.add_argument(
        '--channels-last', action='store_true',
        help='channels_last (NHWC) activations on GPUs as well; without '
        'it, the ChannelsLastHook of custom_hooks converts on CPUs only')
    parser.add_argument('--no-validate', action='store_true',
                        help='skip validation during training')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale lr linearly with the total batch size')
    add_runner_args(
        parser, work_dir_help='where to save logs and models',
        cfg_options_example='train_cfg.max_epochs=30')
    return parser.parse_args()


def merge_args(cfg, args):
    # First: the rewrites below (--fast-path, --amp) must see the overrides.
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.no_validate:
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    if args.fast_path:
        cfg = fast_path_config(cfg)
    set_amp(cfg, args.amp)
    if args.channels_last:
        set_channels_last(cfg)
    if args.compile:
        set_compile(cfg, None if args.compile is True else args.compile)
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume is not None:
        cfg.resume, cfg.load_from = True, args.resume
    if args.auto_scale_lr:
        cfg.auto_scale_lr.enable = True
    return cfg


def main():
    args = parse_args()
    run_config(merge_args(config_from_args(args), args), 'train')


if __name__ == '__main__':
    main()
