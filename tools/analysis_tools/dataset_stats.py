"""Print the per-class counts of a config's dataset (long-tail profile).

Example:
    python tools/analysis_tools/dataset_stats.py CONFIG --json stats.json \
        --plot stats.png
"""
import argparse
import json
import math

import numpy as np
from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope


def parse_args():
    parser = argparse.ArgumentParser(
        description='Show the class distribution of a config\'s dataset')
    parser.add_argument('config', help='config file path')
    parser.add_argument(
        '--split',
        default='train',
        choices=['train', 'val', 'test'],
        help='which `<split>_dataloader.dataset` to count')
    parser.add_argument('--json', help='write the statistics to this file')
    parser.add_argument(
        '--plot', help='save the sorted class histogram to this image')
    parser.add_argument(
        '--many-thr',
        type=int,
        default=100,
        help='classes with more images than this are many-shot')
    parser.add_argument(
        '--few-thr',
        type=int,
        default=20,
        help='classes with fewer images than this are few-shot')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override some settings in the used config, the key-value pair '
        'in xxx=yyy format will be merged into config file.')
    return parser.parse_args()


def plot_counts(counts, names, out_file):
    """Save the class histogram, sorted by count (head to tail)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    order = np.argsort(-counts, kind='stable')
    fig, ax = plt.subplots(figsize=(max(6, min(len(counts) * 0.2, 20)), 4))
    ax.bar(np.arange(len(counts)), counts[order], width=0.9)
    if len(counts) <= 30:
        ax.set_xticks(np.arange(len(counts)))
        ax.set_xticklabels([names[i] for i in order], rotation=90)
    else:
        ax.set_xlabel('classes sorted by count')
    ax.set_ylabel('images')
    if counts.max() > 0 and counts.min() > 0 and \
            counts.max() / counts.min() > 50:
        ax.set_yscale('log')
    ax.set_title(f'{len(counts)} classes, {int(counts.sum())} images')
    fig.tight_layout()
    fig.savefig(out_file)
    plt.close(fig)


def main():
    args = parse_args()
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    # Registers mmace's datasets even if the config lacks custom_imports.
    import mmace  # noqa: F401
    from mmace.datasets import (build_dataset_in_scope, get_class_counts,
                                shot_splits)

    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    key = f'{args.split}_dataloader'
    if cfg.get(key) is None or 'dataset' not in cfg[key]:
        raise ValueError(f'{args.config} has no `{key}.dataset`')
    dataset = build_dataset_in_scope(cfg[key].dataset)
    counts = get_class_counts(dataset)
    classes = dataset.metainfo.get('classes') or [
        str(i) for i in range(len(counts))
    ]
    splits = shot_splits(counts, args.many_thr, args.few_thr)
    imb = counts.max() / counts.min() if counts.min() > 0 else math.inf

    print(f'Dataset: {type(dataset).__name__} ({key}.dataset)')
    print(f'Number of classes: {len(counts)}')
    print(f'Number of images: {int(counts.sum())}')
    print(f'Imbalance factor (max/min): {imb:.2f}')
    print(f'Many-shot (> {args.many_thr}): {len(splits["many"])}  '
          f'Medium-shot: {len(splits["medium"])}  '
          f'Few-shot (< {args.few_thr}): {len(splits["few"])}')
    print(f'{"rank":>5} {"index":>6} {"count":>7}  class')
    for rank, i in enumerate(np.argsort(-counts, kind='stable')):
        print(f'{rank:>5} {i:>6} {counts[i]:>7}  {classes[i]}')

    if args.json:
        stats = dict(
            num_classes=len(counts),
            counts=counts.tolist(),
            imbalance_factor=None if math.isinf(imb) else float(imb),
            splits={
                k: int(len(v))
                for k, v in splits.items()
            })
        with open(args.json, 'w') as f:
            json.dump(stats, f, indent=2)
        print(f'Statistics written to {args.json}')
    if args.plot:
        plot_counts(counts, classes, args.plot)
        print(f'Histogram saved to {args.plot}')


if __name__ == '__main__':
    main()
