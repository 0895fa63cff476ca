"""compare_splits.py, expert_norms.py and multi_seed.py on real tiny runs."""
import csv
import json
import re
import subprocess

import pytest

import mmace  # noqa: F401  (checkpoints load with weights_only=True)

from conftest import PYTHON, REPO, run_tool

ACE = REPO / 'configs/quickstart/ace_r32_digits-lt.py'
CE = REPO / 'configs/quickstart/ce_r32_digits-lt.py'
TOOLS = REPO / 'tools/analysis_tools'
SHORT = ['train_cfg.max_epochs=3', 'train_cfg.val_interval=3']
PNG_MAGIC = b'\x89PNG\r\n\x1a\n'


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    """CE and ACE trained 3 epochs on Digits-LT, then evaluated by
    tools/test.py with the per-class JSON and 15-bin ECE."""
    root = tmp_path_factory.mktemp('analysis')
    out = {}
    for name, config in (('ce', CE), ('ace', ACE)):
        work = root / name
        run_tool([PYTHON, REPO / 'tools/train.py', config, '--work-dir',
                  work, '--cfg-options', *SHORT], cwd=root)
        ckpt = work / 'epoch_3.pth'
        run_tool([
            PYTHON, REPO / 'tools/test.py', config, ckpt, '--work-dir', work,
            '--out', root / f'{name}_metrics.json', '--cfg-options',
            f'test_evaluator.per_class_out={root / "eval" / name}',
            'test_evaluator.ece_bins=15'
        ], cwd=root)
        out[name] = dict(
            ckpt=ckpt,
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


# ------------------------------------------------------ compare_splits
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
    assert 'classes: 10 (many 2, medium 6, few 2' in out
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


# ------------------------------------------------------ expert_norms
@pytest.mark.slow
def test_expert_norms_prints_eq2_factors_and_plots(runs):
    root, r = runs
    plot, dump = root / 'norms.png', root / 'norms.json'
    out = run_tool([
        PYTHON, TOOLS / 'expert_norms.py', ACE, r['ace']['ckpt'], '--plot',
        plot, '--json', dump
    ], cwd=root).stdout

    # The same head, loaded here: the printed factors are its Eq. 2 ones.
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmengine.runner import load_checkpoint
    from mmpretrain.registry import MODELS
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(ACE)
    cfg.model.head.class_counts = None
    model = MODELS.build(cfg.model)
    load_checkpoint(model, str(r['ace']['ckpt']), map_location='cpu')
    head = model.head
    factors = head.rescale_factors()
    for i, f in enumerate(factors.tolist()):
        assert re.search(rf'E{i + 1} \|\s+\d+ \|\s+{f:.4f}', out), out

    res = json.loads(dump.read_text())
    counts = head.class_counts.long()
    assert res['counts'] == sorted(counts.tolist(), reverse=True)
    order = res['classes']
    for i, clf in enumerate(head.classifiers):
        norms = clf.effective_weight.detach().norm(dim=1)[order]
        assert res['experts'][i]['norm'] == pytest.approx(norms.tolist())
        assert res['experts'][i]['target'] == \
            head.target_masks[i, order].tolist()
    # Expert 3 targets only the rarest classes: the tail of the order.
    assert res['experts'][2]['target'] == [False] * 6 + [True] * 4
    assert _is_png(plot)


@pytest.mark.slow
def test_expert_norms_needs_an_ace_head(runs):
    root, r = runs
    proc = subprocess.run([
        PYTHON, str(TOOLS / 'expert_norms.py'), str(CE), str(r['ce']['ckpt'])
    ], cwd=root, capture_output=True, text=True)
    assert proc.returncode != 0 and 'not an ACEHead' in proc.stderr


# ------------------------------------------------------ multi_seed
def _table_rows(stdout):
    return [
        [c.strip() for c in line.strip().strip('|').split('|')]
        for line in stdout.splitlines() if line.startswith('| ')
    ]


@pytest.mark.slow
def test_multi_seed_table_resume_and_failure(tmp_path):
    work = tmp_path / 'ms'
    base = [PYTHON, TOOLS / 'multi_seed.py', ACE, '--work-dir', work]
    one_epoch = ['train_cfg.max_epochs=1', 'train_cfg.val_interval=1']
    # Seed 1 stops after 1 epoch: an interrupted run.
    run_tool([*base, '--seeds', '1', '--cfg-options', *one_epoch],
             cwd=tmp_path)
    (work / 'seed1' / 'multi_seed.json').unlink()
    # Seed 2 fails: its work dir points at a checkpoint that is gone.
    (work / 'seed2').mkdir()
    (work / 'seed2' / 'last_checkpoint').write_text(str(tmp_path / 'x.pth'))

    two_epochs = ['train_cfg.max_epochs=2', 'train_cfg.val_interval=1']
    cmd = [*base, '--seeds', '0', '1', '2', '--json', tmp_path / 'ms.json',
           '--cfg-options', *two_epochs]
    proc = subprocess.run(list(map(str, cmd)), cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    rows = _table_rows(proc.stdout)
    header = rows[0]
    assert header[:7] == ['seed', 'status', 'epoch', 'top1', 'many',
                          'medium', 'few']
    assert 'ece' in header and 'ece_few' in header
    by_seed = {row[0]: row for row in rows[1:]}
    assert by_seed['0'][1:3] == ['trained', '2']
    assert by_seed['1'][1:3] == ['resumed', '2']  # epoch 2 of 2
    assert by_seed['2'][1].startswith('failed (exit')
    assert '1 of 3 seeds failed: [2]' in proc.stdout

    # The summary row aggregates the two good seeds: mean and sample std.
    summary = by_seed['mean ± std (n=2)']
    runs = json.loads((tmp_path / 'ms.json').read_text())['runs']
    for col in ('top1', 'few', 'ece'):
        j = header.index(col)
        values = [r['metrics'][col] for r in runs if r.get('metrics')]
        mean = sum(values) / 2
        std = abs(values[0] - values[1]) / 2**0.5
        assert summary[j] == f'{mean:.2f} ± {std:.2f}', col
        assert [float(by_seed[s][j]) for s in '01'] == pytest.approx(
            values, abs=0.006)
    # Different seeds, different runs.
    assert runs[0]['metrics'] != runs[1]['metrics']

    # Run again: the done seeds are not retrained.
    again = subprocess.run(
        list(map(str, [*base, '--seeds', '0', '1', '--cfg-options',
                       *two_epochs])),
        cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stdout + again.stderr
    rows = {row[0]: row for row in _table_rows(again.stdout)[1:]}
    assert rows['0'][1] == rows['1'][1] == 'done earlier'
    assert rows['mean ± std (n=2)'] == summary
