"""Choose tau of a post-hoc correction on the validation split of a CE
checkpoint, and report the test split at that tau.

The tau-normalised classifier (``--option tau_norm``) or post-hoc logit
adjustment (``--option posthoc_tau``) of ``LongTailLinearClsHead``, on any
``LinearClsHead`` checkpoint; the features are computed once per split.
The training class counts come from the checkpoint (mmace records them) or,
for older checkpoints, from the config's training set.

Example::

    python tools/analysis_tools/posthoc_sweep.py \\
        configs/baseline/ce_r50_imagenet-lt.py work_dirs/ce/epoch_180.pth \\
        --option tau_norm --values 0 0.25 0.5 0.75 1 1.25 1.5
"""
import json

from mmengine.runner import Runner

from mmace.analysis.cli import checkpoint_parser, load_config
from mmace.analysis.posthoc import (OPTIONS, build_linear_model, choose,
                                    collect_features, sweep, training_counts)
from mmace.analysis.readouts import build_metric
from mmace.datasets import get_class_counts


def parse_args():
    parser = checkpoint_parser(__doc__.split('\n\n')[0],
                               "the CE model's config file")
    parser.add_argument('--option', choices=OPTIONS, default='tau_norm')
    parser.add_argument('--values', type=float, nargs='+',
                        default=[0, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 2])
    parser.add_argument('--out', help='write both tables as JSON here')
    return parser.parse_args()


def table(rows, chosen=None) -> str:
    lines = ['| value | top-1 | many | medium | few |',
             '| --- | --- | --- | --- | --- |']
    for r in rows:
        cells = ['-' if r[k] is None else f'{r[k]:.2f}'
                 for k in ('top1', 'many', 'medium', 'few')]
        mark = ' (chosen)' if r is chosen else ''
        lines.append(f'| {r["value"]:g}{mark} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def main():
    args = parse_args()
    cfg = load_config(args.config, args.cfg_options)
    counts = training_counts(args.checkpoint)
    if counts is None:
        counts = get_class_counts(
            Runner.build_dataloader(cfg.train_dataloader).dataset).tolist()
    model = build_linear_model(cfg, args.checkpoint, counts)
    metric = build_metric(cfg, counts)
    splits = {}
    for split in ('val', 'test'):
        loader = Runner.build_dataloader(cfg[f'{split}_dataloader'])
        metric.dataset_meta = getattr(loader.dataset, 'metainfo', None)
        feats, labels = collect_features(model, loader)
        splits[split] = sweep(model.head, feats, labels, args.option,
                              args.values, metric)
    best = choose(splits['val'])
    at_best = next(r for r in splits['test'] if r['value'] == best['value'])
    same = cfg.val_dataloader.dataset == cfg.test_dataloader.dataset
    print(f'{args.option} on the validation split:')
    print(table(splits['val'], best))
    print(f'test split at {args.option}={best["value"]:g}: top-1 '
          f'{at_best["top1"]:.2f}')
    if same:
        print('NOTE: val_dataloader and test_dataloader are the same data, '
              'so this value was chosen on the test split itself; it is not '
              'a fair test number.')
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(dict(option=args.option, chosen=best['value'],
                           chosen_on_test=same, **splits), f, indent=2)


if __name__ == '__main__':
    main()
