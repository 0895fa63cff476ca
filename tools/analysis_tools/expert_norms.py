"""What the ACE experts learned: per-class classifier norms (Fig. 4).

For each expert, the norm of its effective LWS weight row ``scale_c * w_c``
(what Eq. 2 measures) and its bias, class by class, classes sorted by
training count. Target classes are filled markers, interfering classes
hollow: with L_com an expert's interfering rows shrink towards 0 and on
their shared classes the experts have similar norms (paper, Fig. 4 top).
It also prints the Eq. 2 factors the head applies at inference.

Example:
    python tools/analysis_tools/expert_norms.py \\
        configs/ace/ace_r32_cifar10-lt-100.py epoch_30.pth --plot norms.png
"""
import json

import torch

from mmace.analysis.cli import checkpoint_parser, load_config

SPLITS = ('many', 'medium', 'few')
# The paper's colours: E1 red, E2 blue, E3 green.
COLORS = ('tab:red', 'tab:blue', 'tab:green', 'tab:orange', 'tab:purple',
          'tab:brown')


def parse_args():
    parser = checkpoint_parser(
        'Per-class weight norms of each ACE expert (Fig. 4) and the Eq. 2 '
        'factors', 'config file of the ACE model')
    parser.add_argument('--plot', help='save the Fig. 4 view here')
    parser.add_argument('--json', help='write every number here')
    parser.add_argument('--many-thr', type=int, default=100,
                        help='classes with more images are many-shot')
    parser.add_argument('--few-thr', type=int, default=20,
                        help='classes with fewer images are few-shot')
    return parser.parse_args()


def load_head(config, checkpoint, cfg_options=None):
    """The trained ACE head (counts and masks come from the checkpoint)."""
    from mmace.analysis.readouts import build_model
    return build_model(load_config(config, cfg_options), checkpoint).head


@torch.no_grad()
def expert_norms(head, many_thr, few_thr):
    """Everything the table and the plot show, as plain Python values."""
    from mmace.datasets.class_counts import shot_splits
    counts = head.class_counts.long()
    masks = head.target_masks.bool()
    order = torch.sort(counts, descending=True, stable=True).indices
    splits = shot_splits(counts.numpy(), many_thr, few_thr)
    split_of = {int(c): s for s in SPLITS for c in splits[s]}
    factors = head.rescale_factors()
    experts = []
    for i, clf in enumerate(head.classifiers):
        norms = clf.effective_weight.norm(dim=1)
        bias = getattr(clf, 'effective_bias', clf.bias)
        experts.append(
            dict(
                factor=None if factors is None else float(factors[i]),
                targets=int(masks[i].sum()),
                norm=[float(norms[c]) for c in order],
                bias=None if bias is None else [float(bias[c])
                                                for c in order],
                target=[bool(masks[i, c]) for c in order]))
    return dict(
        rescale=head.rescale,
        aggregation=head.aggregation,
        norm_reduce=getattr(head, 'norm_reduce', None),
        classes=[int(c) for c in order],
        counts=[int(counts[c]) for c in order],
        splits=[split_of[int(c)] for c in order],
        many_thr=many_thr,
        few_thr=few_thr,
        experts=experts)


def _mean(values):
    return sum(values) / len(values) if values else None


def print_report(res):
    print(f'Eq. 2: rescale={res["rescale"]!r}, norm_reduce='
          f'{res["norm_reduce"]!r}; aggregation={res["aggregation"]!r}')
    print('mean per-class norm of the effective LWS weight, over the '
          "expert's target classes of each split; interfering: over the "
          'classes it does not target\n')
    cols = ('expert', 'targets', 'Eq.2 factor', *SPLITS, 'interfering')
    print(' | '.join(f'{c:>11}' for c in cols))
    for i, e in enumerate(res['experts']):
        cells = [f'E{i + 1}', str(e['targets']),
                 '-' if e['factor'] is None else f'{e["factor"]:.4f}']
        for split in SPLITS:
            vals = [n for n, t, s in zip(e['norm'], e['target'],
                                         res['splits']) if t and s == split]
            m = _mean(vals)
            cells.append('-' if m is None else f'{m:.4f}')
        inter = _mean([n for n, t in zip(e['norm'], e['target']) if not t])
        cells.append('-' if inter is None else f'{inter:.4f}')
        print(' | '.join(f'{c:>11}' for c in cells))
    if len(res['classes']) <= 20:
        print('\nper class (most frequent first; * = target):')
        head = ['class', 'count', 'split'] + [
            f'E{i + 1}' for i in range(len(res['experts']))
        ]
        print(' | '.join(f'{c:>8}' for c in head))
        for j, c in enumerate(res['classes']):
            cells = [str(c), str(res['counts'][j]), res['splits'][j]] + [
                f'{e["norm"][j]:.3f}' + ('*' if e['target'][j] else ' ')
                for e in res['experts']
            ]
            print(' | '.join(f'{x:>8}' for x in cells))


def plot(res, out_file, title):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    has_bias = res['experts'][0]['bias'] is not None
    fig, axes = plt.subplots(
        2 if has_bias else 1, 1, figsize=(8, 6.5 if has_bias else 4),
        sharex=True, squeeze=False)
    x = list(range(len(res['classes'])))
    for row, key in enumerate(('norm', 'bias')[:axes.shape[0]]):
        ax = axes[row, 0]
        for i, e in enumerate(res['experts']):
            color = COLORS[i % len(COLORS)]
            factor = '' if e['factor'] is None else \
                f', Eq. 2 factor {e["factor"]:.3f}'
            ax.plot(x, e[key], color=color, lw=1, alpha=0.7,
                    label=f'E{i + 1} ({e["targets"]} targets{factor})')
            for filled in (True, False):
                pts = [(j, v) for j, v, t in zip(x, e[key], e['target'])
                       if t == filled]
                if pts:
                    ax.scatter(*zip(*pts), s=22, color=color,
                               facecolors=color if filled else 'white',
                               zorder=3)
        # Split boundaries between consecutive classes.
        for j in range(1, len(x)):
            if res['splits'][j] != res['splits'][j - 1]:
                ax.axvline(j - 0.5, color='black', ls='--', lw=0.8)
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel('||scale * w_c||')
    # Above the plot: the data may be anywhere inside it.
    axes[0, 0].legend(fontsize=8, loc='lower center', ncol=3,
                      bbox_to_anchor=(0.5, 1.0), frameon=False)
    fig.suptitle(title, fontsize=10)
    if has_bias:
        axes[1, 0].set_ylabel('bias b_c')
    ax = axes[-1, 0]
    ax.set_xticks(x)
    ax.set_xticklabels(
        [f'{c}\n{n}' for c, n in zip(res['classes'], res['counts'])]
        if len(x) <= 20 else [''] * len(x), fontsize=8)
    ax.set_xlabel('class / training images, most frequent first (filled: '
                  'target, hollow: interfering; dashed: split boundaries)')
    fig.tight_layout()
    fig.savefig(out_file, dpi=120)
    plt.close(fig)


def main():
    args = parse_args()
    head = load_head(args.config, args.checkpoint, args.cfg_options)
    res = expert_norms(head, args.many_thr, args.few_thr)
    print_report(res)
    if args.plot:
        plot(res, args.plot, f'{args.config}\n{args.checkpoint}')
        print(f'\nplot written to {args.plot}')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(res, f, indent=2)
        print(f'numbers written to {args.json}')


if __name__ == '__main__':
    main()
