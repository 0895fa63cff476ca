"""Evaluate one ACE checkpoint under every Eq. 2 / Eq. 3 read-out at once.

The expert logits are computed once over the test set; every read-out
(rescale x norm rows x reduction x aggregation, and each expert alone) is
then scored with the config's ``LongTailAccuracy``, exactly as
``tools/test.py`` would score the same checkpoint with the ``--cfg-options``
printed in each row.

Example::

    python tools/analysis_tools/readouts.py \\
        configs/ace/ace_r32_cifar10-lt-100.py work_dirs/ace/epoch_400.pth \\
        --out readouts.json
"""
import json
import os.path as osp

from mmengine.runner import Runner

from mmace.analysis.cli import checkpoint_parser, load_config
from mmace.analysis.readouts import (build_metric, build_model,
                                     collect_logits, format_table, readouts)


def parse_args():
    parser = checkpoint_parser(
        'Score an ACE checkpoint under every Eq. 2 rescale and Eq. 3 '
        'aggregation variant, and each expert alone, in one pass',
        "the model's config file")
    parser.add_argument('--out', help='write the table as JSON here')
    return parser.parse_args()


def main():
    args = parse_args()
    cfg = load_config(args.config, args.cfg_options)
    model = build_model(cfg, args.checkpoint)
    dataloader = Runner.build_dataloader(cfg.test_dataloader)
    logits, labels = collect_logits(model, dataloader)
    metric = build_metric(cfg, model.head.class_counts.long().tolist())
    metric.dataset_meta = getattr(dataloader.dataset, 'metainfo', None)
    rows = readouts(model, logits, labels, metric)
    print(f'{osp.basename(args.checkpoint)}: {labels.numel()} test images, '
          f'{model.head.num_experts} experts, accuracies in %')
    print(format_table(rows))
    # ACE's point: the ensemble should beat each of its own experts.
    config_row = next(r for r in rows if r['name'].endswith('(config)'))
    best = max((r for r in rows if r['factors'] is None),
               key=lambda r: r['top1'])
    margin = config_row['top1'] - best['top1']
    print(f'config read-out vs the best single expert ({best["name"]}): '
          f'{margin:+.2f} top-1' +
          ('' if margin > 0 else '  <- the ensemble does not beat it'))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(dict(config=args.config, checkpoint=args.checkpoint,
                           num_samples=labels.numel(), readouts=rows),
                      f, indent=2)
        print(f'written to {args.out}')


if __name__ == '__main__':
    main()
