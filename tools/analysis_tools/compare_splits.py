"""Compare two evaluations per split and per class (the paper's Fig. 3).

A and B are evaluation outputs of the same test set:

- the per-class JSON that ``LongTailAccuracy(per_class_out=PREFIX)`` writes
  (``PREFIX.json``): everything below works;
- or the metrics file of ``tools/test.py --out metrics.json`` (``.json``,
  ``.pkl``, ``.yaml``): the split table only.

It prints the top-1 / many / medium / few accuracy of both and B - A, and
the expected calibration error when the evaluation had ``ece_bins``. It can
plot the per-class accuracy of both against the class's training count (log
x, the many/medium/few boundaries drawn) with B's per-class gain below, and
a reliability diagram of both.

Example:
    python tools/test.py CONFIG_A CKPT_A --cfg-options \\
        test_evaluator.per_class_out=eval/ce test_evaluator.ece_bins=15
    python tools/test.py CONFIG_B CKPT_B --cfg-options \\
        test_evaluator.per_class_out=eval/ace test_evaluator.ece_bins=15
    python tools/analysis_tools/compare_splits.py eval/ce.json eval/ace.json \\
        --labels CE ACE --plot fig3.png --reliability rel.png --csv gain.csv
"""
import argparse
import csv
import math
import os.path as osp
from typing import Dict, List, Optional

SPLITS = ('many', 'medium', 'few')
COLUMNS = ('top1', ) + SPLITS
ECE_COLUMNS = ('ece', 'ece_many', 'ece_medium', 'ece_few')


def parse_args():
    parser = argparse.ArgumentParser(
        description='Many/medium/few table, per-class plot (Fig. 3) and '
        'reliability diagram of two evaluations')
    parser.add_argument('a', help='evaluation A: per-class JSON of '
                        'LongTailAccuracy, or tools/test.py --out metrics')
    parser.add_argument('b', help='evaluation B (same test set)')
    parser.add_argument('--labels', nargs=2, metavar=('A', 'B'),
                        help='names of A and B (default: file names)')
    parser.add_argument('--plot', help='save the per-class plot here')
    parser.add_argument('--reliability',
                        help='save the reliability diagram here (needs '
                        'evaluations made with ece_bins)')
    parser.add_argument('--csv', help='write the per-class (or per-split) '
                        'accuracies and gains here')
    return parser.parse_args()


class Evaluation:
    """One evaluation output, normalised.

    Args:
        path (str): A per-class JSON or a metrics file.
        label (str): Its name in tables and plots.
    """

    def __init__(self, path: str, label: str):
        import mmengine
        self.path, self.label = path, label
        data = mmengine.load(path)
        if not isinstance(data, dict):
            raise ValueError(f'{path}: expected a dict, got {type(data)}')
        self.classes: Optional[List[dict]] = data.get('classes')
        self.calibration: Optional[dict] = data.get('calibration')
        if self.classes is not None:
            self.many_thr, self.few_thr = data['many_thr'], data['few_thr']
            self.metrics = self._from_classes()
        else:
            # {'accuracy/top1': .., 'accuracy/many': ..}: any prefix.
            self.metrics = {
                key.rsplit('/', 1)[-1]: float(value)
                for key, value in data.items()
                if isinstance(value, (int, float))
            }
            if 'top1' not in self.metrics:
                raise ValueError(
                    f'{path} is neither a per-class JSON of LongTailAccuracy '
                    '(per_class_out) nor a metrics file with a top1 entry')

    def _from_classes(self) -> Dict[str, float]:
        """Recompute the metrics exactly as LongTailAccuracy does."""
        tested = [c for c in self.classes if c['accuracy'] is not None]
        total = sum(c['num_test'] for c in tested)
        metrics = dict(
            top1=sum(c['accuracy'] * c['num_test'] for c in tested) / total)
        for split in SPLITS:
            accs = [c['accuracy'] for c in tested if c['split'] == split]
            if accs:
                metrics[split] = sum(accs) / len(accs)
        for name, calib in (self.calibration or {}).items():
            if isinstance(calib, dict):
                key = 'ece' if name == 'overall' else f'ece_{name}'
                metrics[key] = calib['ece']
        return metrics


def print_table(evals: List[Evaluation], columns) -> None:
    a, b = evals
    names = [e.label for e in evals] + [f'{b.label} - {a.label}']
    width = max(len(n) for n in names)
    print(' | '.join([' ' * width] + [f'{c:>10}' for c in columns]))

    def cell(value, signed=False):
        if value is None:
            return f'{"-":>10}'
        return f'{value:>+10.2f}' if signed else f'{value:>10.2f}'

    for e in evals:
        print(' | '.join([f'{e.label:<{width}}'] +
                         [cell(e.metrics.get(c)) for c in columns]))
    diffs = [
        cell(b.metrics[c] - a.metrics[c], signed=True)
        if c in a.metrics and c in b.metrics else cell(None)
        for c in columns
    ]
    print(' | '.join([f'{names[-1]:<{width}}'] + diffs))


def per_class_rows(a: Evaluation, b: Evaluation) -> List[dict]:
    """Classes sorted by training count (most frequent first)."""
    if [c['count'] for c in a.classes] != [c['count'] for c in b.classes]:
        print('warning: A and B have different training counts; the plot '
              "uses A's")
    rows = []
    for ca, cb in zip(a.classes, b.classes):
        acc_a, acc_b = ca['accuracy'], cb['accuracy']
        rows.append(
            dict(label=ca['label'], name=ca['name'], count=ca['count'],
                 split=ca['split'], **{
                     f'accuracy_{a.label}': acc_a,
                     f'accuracy_{b.label}': acc_b,
                     'gain': None if acc_a is None or acc_b is None else
                     acc_b - acc_a
                 }))
    return sorted(rows, key=lambda r: (-r['count'], r['label']))


def _plt():
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    return plt


def plot_per_class(a: Evaluation, b: Evaluation, rows, out_file) -> None:
    """Per-class accuracy vs training count, and B's gain (Fig. 3)."""
    plt = _plt()
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(8, 6.5), sharex=True,
        gridspec_kw=dict(height_ratios=[3, 2]))
    counts = [r['count'] for r in rows]
    for ev, color, marker in ((a, 'tab:gray', 's'), (b, 'tab:red', 'o')):
        accs = [r[f'accuracy_{ev.label}'] for r in rows]
        pts = [(n, v) for n, v in zip(counts, accs) if v is not None]
        top.plot(*zip(*pts), marker=marker, ms=4, lw=1, color=color,
                 label=f'{ev.label} (top-1 {ev.metrics["top1"]:.2f})')
    gains = [(n, r['gain']) for n, r in zip(counts, rows)
             if r['gain'] is not None]
    # Bars of equal width on the log axis: +-6% around each count.
    bottom.bar([n / 1.06 for n, _ in gains], [g for _, g in gains],
               width=[n * (1.06 - 1 / 1.06) for n, _ in gains],
               align='edge',
               color=['tab:green' if g >= 0 else 'tab:purple'
                      for _, g in gains])
    bottom.axhline(0, color='black', lw=0.8)

    lo, hi = min(counts) / 1.3, max(counts) * 1.3
    for ax in (top, bottom):
        ax.set_xscale('log')
        ax.set_xlim(hi, lo)  # most frequent class first, as in the paper
        for thr in (a.many_thr + 0.5, a.few_thr - 0.5):
            if lo < thr < hi:
                ax.axvline(thr, color='black', ls='--', lw=0.8)
        ax.grid(alpha=0.3)
    # Split names and B - A split means, above the plot.
    spans = dict(many=(hi, a.many_thr + 0.5),
                 medium=(a.many_thr + 0.5, a.few_thr - 0.5),
                 few=(a.few_thr - 0.5, lo))
    for split, (left, right) in spans.items():
        left, right = min(left, hi), max(right, lo)
        if left <= right or split not in a.metrics:
            continue
        mid = math.sqrt(left * right)
        gain = b.metrics[split] - a.metrics[split]
        top.text(mid, 103, f'{split}\n{gain:+.1f}', ha='center',
                 va='bottom', fontsize=9)
    top.set_ylim(-3, 100)
    top.set_ylabel('per-class top-1 (%)')
    top.legend(loc='lower left', fontsize=9)
    bottom.set_ylabel(f'{b.label} - {a.label} (points)')
    bottom.set_xlabel('training images of the class (log scale; dashed: '
                      f'many > {a.many_thr}, few < {a.few_thr})')
    fig.tight_layout()
    fig.savefig(out_file, dpi=120)
    plt.close(fig)


def plot_reliability(evals: List[Evaluation], out_file) -> None:
    """One reliability diagram per evaluation, splits overlaid."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(evals), figsize=(4.2 * len(evals), 4.8),
                             sharey=True)
    colors = dict(many='tab:blue', medium='tab:orange', few='tab:green')
    for ax, ev in zip(axes, evals):
        calib = ev.calibration
        bins = calib['bins']
        width = 1 / bins
        lefts = [i * width for i in range(bins)]
        accs = [x if x is not None else 0
                for x in calib['overall']['accuracy']]
        ax.bar(lefts, accs, width=width, align='edge', color='tab:gray',
               edgecolor='black', lw=0.5, alpha=0.6, label='all samples')
        split_eces = []
        for split in SPLITS:
            if split not in calib:
                continue
            pts = [(c, a) for c, a in zip(calib[split]['confidence'],
                                          calib[split]['accuracy'])
                   if c is not None]
            ax.plot(*zip(*pts), marker='o', ms=3, lw=1,
                    color=colors[split], label=f'{split}-shot samples')
            split_eces.append(f'{split} {calib[split]["ece"]:.1f}')
        ax.plot([0, 1], [0, 1], color='black', ls='--', lw=0.8)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel('confidence (top-1 score)')
        ax.set_title(f'{ev.label}: ECE {calib["overall"]["ece"]:.2f}% '
                     f'({bins} bins)\n' + ', '.join(split_eces),
                     fontsize=10)
    axes[0].set_ylabel('accuracy')
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc='lower center', ncol=len(labels),
               fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.savefig(out_file, dpi=120)
    plt.close(fig)


def write_csv(evals, rows, out_file) -> None:
    if rows is None:  # split level only
        a, b = evals
        rows = [
            dict(metric=c, **{
                e.label: e.metrics.get(c)
                for e in evals
            }, diff=(b.metrics[c] - a.metrics[c]
                     if c in a.metrics and c in b.metrics else None))
            for c in COLUMNS + ECE_COLUMNS
            if c in a.metrics or c in b.metrics
        ]
    with open(out_file, 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {k: '' if v is None else v
                 for k, v in row.items()})


def main():
    args = parse_args()
    labels = args.labels
    if labels is None:
        labels = [osp.splitext(osp.basename(p))[0] for p in (args.a, args.b)]
        if labels[0] == labels[1]:
            labels = ['A', 'B']
    evals = [Evaluation(p, l) for p, l in zip((args.a, args.b), labels)]
    for ev in evals:
        print(f'{ev.label}: {ev.path}')
    print('\ntop-1 accuracy (%): overall, and the mean over the classes of '
          'each split')
    print_table(evals, COLUMNS)
    if any(c in ev.metrics for ev in evals for c in ECE_COLUMNS):
        print('\nexpected calibration error (%): overall, and over the '
              'samples of each split')
        print_table(evals, ECE_COLUMNS)

    per_class = all(ev.classes is not None for ev in evals)
    a = evals[0]
    if per_class:
        counts = {s: sum(c['split'] == s for c in a.classes) for s in SPLITS}
        print(f'\nclasses: {len(a.classes)} (many {counts["many"]}, medium '
              f'{counts["medium"]}, few {counts["few"]}; many > '
              f'{a.many_thr}, few < {a.few_thr} training images)')
    rows = per_class_rows(*evals) if per_class else None
    if (args.plot or args.reliability) and not per_class:
        raise SystemExit('--plot and --reliability need per-class JSONs '
                         '(LongTailAccuracy per_class_out), not metrics '
                         'files')
    if args.plot:
        plot_per_class(*evals, rows, args.plot)
        print(f'per-class plot written to {args.plot}')
    if args.reliability:
        missing = [ev.path for ev in evals if not ev.calibration]
        if missing:
            raise SystemExit(
                f'no calibration data in {", ".join(missing)}: evaluate '
                'with LongTailAccuracy(ece_bins=15), e.g. --cfg-options '
                'test_evaluator.ece_bins=15')
        plot_reliability(evals, args.reliability)
        print(f'reliability diagram written to {args.reliability}')
    if args.csv:
        write_csv(evals, rows, args.csv)
        print(f'{"per-class" if per_class else "per-split"} values written '
              f'to {args.csv}')


if __name__ == '__main__':
    main()
