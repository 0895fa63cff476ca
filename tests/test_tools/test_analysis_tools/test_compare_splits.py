"""tools/analysis_tools/compare_splits.py on the session's trained CE and
ACE models, evaluated by tools/test.py."""
import csv
import json
import subprocess

import pytest

import mmace  # noqa: F401  (checkpoints load with weights_only=True)

from conftest import PYTHON, REPO, run_tool

TOOLS = REPO / 'tools/analysis_tools'
PNG_MAGIC = b'\x89PNG\r\n\x1a\n'


@pytest.fixture(scope='module')
def runs(trained_digits, tmp_path_factory):
    """The session's CE and ACE models (Digits-LT) evaluated by
    tools/test.py with the per-class JSON and 15-bin ECE."""
    root = tmp_path_factory.mktemp('analysis')
    out = {}
    for name in ('ce', 'ace'):
        run = getattr(trained_digits, name)
        run_tool([
            PYTHON, REPO / 'tools/test.py', run.config, run.last,
            '--work-dir', root / name, '--out',
            root / f'{name}_metrics.json', '--cfg-options',
            f'test_evaluator.per_class_out={root / "eval" / name}',
            'test_evaluator.ece_bins=15'
        ], cwd=root)
        out[name] = dict(
            per_class=root / 'eval' / f'{name}.json',
            metrics=json.loads((root / f'{name}_metrics.json').read_text()))
    return root, out


def _table(stdout, label):
    """The numbers of one row of a printed table."""
    line = next(l for l in stdout.splitlines()
                if l.split('|')[0].strip() == label)
    return [float(c) if c.strip() != '-' else None
            for c in line.split('|')[1:]]


def _is_png(path):
    return path.is_file() and path.read_bytes()[:8] == PNG_MAGIC and \
        path.stat().st_size > 10_000


@pytest.mark.slow
def test_compare_splits_tables_plots_and_csv(runs):
    root, r = runs
    plot, rel, table = root / 'fig3.png', root / 'rel.png', root / 'g.csv'
    out = run_tool([
        PYTHON, TOOLS / 'compare_splits.py', r['ce']['per_class'],
        r['ace']['per_class'], '--labels', 'CE', 'ACE', '--plot', plot,
        '--reliability', rel, '--csv', table
    ], cwd=root).stdout
    ce, ace = r['ce']['metrics'], r['ace']['metrics']
    # Accuracy table: top1 many medium few, recomputed from the per-class
    # JSON, equals what the metric reported.
    for label, metrics in (('CE', ce), ('ACE', ace)):
        row = _table(out.split('expected calibration')[0], label)
        expected = [metrics.get(f'accuracy/{k}')
                    for k in ('top1', 'many', 'medium', 'few')]
        assert row == pytest.approx(expected, abs=0.006), label
    diff = _table(out.split('expected calibration')[0], 'ACE - CE')
    assert diff[0] == pytest.approx(
        ace['accuracy/top1'] - ce['accuracy/top1'], abs=0.011)
    # ECE table.
    ece_part = out.split('expected calibration')[1]
    assert _table(ece_part, 'ACE')[0] == pytest.approx(
        ace['accuracy/ece'], abs=0.006)
    assert _table(ece_part, 'CE')[3] == pytest.approx(
        ce['accuracy/ece_few'], abs=0.006)
    # The quick start's counts 128, 99, 76, 59, 46, 35, 27, 21, 16, 12:
    # one class above 100, two below 20.
    assert 'classes: 10 (many 1, medium 7, few 2' in out
    assert _is_png(plot) and _is_png(rel)

    with open(table, newline='') as f:
        rows = list(csv.DictReader(f))
    counts = [int(row['count']) for row in rows]
    assert counts == sorted(counts, reverse=True) and len(rows) == 10
    for row in rows:
        assert float(row['gain']) == pytest.approx(
            float(row['accuracy_ACE']) - float(row['accuracy_CE']))


def test_compare_splits_accepts_test_py_metrics(runs):
    root, r = runs
    args = [PYTHON, TOOLS / 'compare_splits.py', root / 'ce_metrics.json',
            root / 'ace_metrics.json']
    out = run_tool(args, cwd=root).stdout
    # Both files are "*_metrics": labelled by their names.
    assert _table(out, 'ace_metrics')[0] == pytest.approx(
        r['ace']['metrics']['accuracy/top1'], abs=0.006)
    # No per-class data: no plot, and it says why.
    proc = subprocess.run([*map(str, args), '--plot', 'x.png'], cwd=root,
                          capture_output=True, text=True)
    assert proc.returncode != 0 and 'per-class JSON' in proc.stderr
