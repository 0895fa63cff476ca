"""Evaluate a checkpoint (same command line as mmpretrain's test.py).

Testing needs only the test split and the checkpoint: the training sections
of the config are dropped, so no training set is built, and the class
counts the config's ``class_counts='auto'`` stand for are those the
checkpoint recorded (``mmace.engine.runners.fill_auto_class_counts``).
"""
import argparse

from mmace.utils.cli import add_runner_args, config_from_args, run_config


def parse_args():
    parser = argparse.ArgumentParser(description='Test a classifier')
    parser.add_argument('config', help='test config file path')
    parser.add_argument(
        'checkpoint',
        help='checkpoint file; its weights must fit the config\'s model '
        '(--cfg-options load_strict=False loads it anyway)')
    parser.add_argument(
        '--out', help='dump the metrics to this file (.json/.pkl/.yaml)')
    parser.add_argument(
        '--expert-scores', action='store_true',
        help='ACE models: also report each expert (overall/many/medium/few)')
    add_runner_args(
        parser, work_dir_help='where to save the results',
        cfg_options_example='test_dataloader.batch_size=64 '
        'test_evaluator.ece_bins=15')
    return parser.parse_args()


def main():
    args = parse_args()
    cfg = config_from_args(args)
    cfg.load_from = args.checkpoint
    if args.expert_scores:
        cfg.model.head.return_expert_scores = True
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    # mmengine's Runner without training: nothing of the training split is
    # built or read.
    cfg.train_dataloader = cfg.train_cfg = None
    cfg.optim_wrapper = cfg.param_scheduler = None
    runner, metrics = run_config(cfg, 'test')
    if args.out and runner.rank == 0:
        import mmengine
        mmengine.dump(metrics, args.out)


if __name__ == '__main__':
    main()
