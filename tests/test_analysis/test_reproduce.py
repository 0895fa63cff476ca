"""tools/analysis_tools/reproduce.py and mmace.analysis.reproduce."""
import json
import math

import pytest

from mmace.analysis.reproduce import (Job, format_curves, format_table,
                                      job_command, options_to_args, plan_jobs,
                                      summarize, train_flags,
                                      validation_curve)

from conftest import PYTHON, REPO, parse_tool_args, run_tool


def write_scalars(work_dir, stamp, entries):
    path = work_dir / stamp / 'vis_data'
    path.mkdir(parents=True)
    (path / 'scalars.json').write_text(
        '\n'.join(json.dumps(e) for e in entries) + '\n')


def val(step, top1, **extra):
    return {'accuracy/top1': top1, 'accuracy/many': top1 + 1,
            'accuracy/medium': top1 - 1, 'step': step, **extra}


def test_summary_is_mean_and_std_of_each_seeds_last_validation(tmp_path):
    config = REPO / 'configs/ace/ace_r32_cifar10-lt-100.py'
    jobs = plan_jobs([str(config)], [0, 1], str(tmp_path))
    assert [j.work_dir for j in jobs] == [
        str(tmp_path / 'ace_r32_cifar10-lt-100' / f'seed{s}') for s in (0, 1)
    ]
    assert jobs[1].cfg_options == ['randomness.seed=1']
    # Seed 0 was resumed once: its last epoch sits in the second segment;
    # train-loss entries carry no accuracy.
    seed0 = tmp_path / 'ace_r32_cifar10-lt-100' / 'seed0'
    write_scalars(seed0, '20260101_000000', [val(10, 50.0), {'loss': 1.0}])
    write_scalars(seed0, '20260102_000000',
                  [val(20, 60.0, **{'accuracy/expert1_top1': 40.0})])
    seed1 = tmp_path / 'ace_r32_cifar10-lt-100' / 'seed1'
    write_scalars(seed1, '20260101_000000',
                  [val(20, 64.0, **{'accuracy/expert1_top1': 44.0})])
    model, expert1 = summarize(jobs)
    assert model['readout'] == 'model' and model['seeds'] == 2
    assert model['epochs'] == [20]
    assert model['top1'] == pytest.approx([62.0, math.sqrt(8)])
    assert model['many'] == pytest.approx([63.0, math.sqrt(8)])
    assert model['few'] is None
    assert model['paper_top1'] == 81.2
    assert expert1['readout'] == 'expert 1'
    assert expert1['top1'] == pytest.approx([42.0, math.sqrt(8)])
    table = format_table([model, expert1])
    assert '| ace_r32_cifar10-lt-100 | model | 2 | 20 | 62.00 ± 2.83 |' in table


def test_curve_merges_resumed_segments_in_epoch_order(tmp_path):
    job = Job('c/ce.py', 0, str(tmp_path))
    write_scalars(tmp_path, '20260101_000000',
                  [val(10, 30.0), {'loss': 1.0}, val(20, 40.0)])
    # Resumed from epoch 10: epoch 20 was validated again, then 30.
    write_scalars(tmp_path, '20260102_000000', [val(20, 41.0), val(30, 50.0)])
    curve = validation_curve(str(tmp_path))
    assert [(p['epoch'], p['top1']) for p in curve] == [(10, 30.0),
                                                        (20, 41.0),
                                                        (30, 50.0)]
    assert curve[0]['many'] == 31.0 and curve[0]['few'] is None
    assert format_curves([job]) == (
        'ce seed 0: 10: 30.00 (31.0 / 29.0 / -), 20: 41.00 (42.0 / 40.0 / -),'
        ' 30: 50.00 (51.0 / 49.0 / -)')
    empty = Job('c/ace.py', 1, str(tmp_path / 'none'))
    assert format_curves([empty]) == 'ace seed 1: no validation yet'


def test_a_job_resumes_when_its_work_dir_has_a_checkpoint(tmp_path):
    job = Job('c.py', 0, str(tmp_path), ['randomness.seed=0'])
    assert '--resume' not in job_command(job, 'train.py')
    (tmp_path / 'epoch_10.pth').write_bytes(b'x')
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'epoch_10.pth'))
    assert job_command(job, 'train.py', python='py') == [
        'py', 'train.py', 'c.py', '--work-dir', str(tmp_path), '--resume',
        '--cfg-options', 'randomness.seed=0']


def test_train_flags_reach_every_job(tmp_path):
    config = tmp_path / 'c.py'
    config.write_text('')
    jobs = plan_jobs([str(config)], [0, 1], str(tmp_path), ['x=1'],
                     ['--fast-path', '--amp', 'bf16'])
    for job in jobs:
        cmd = job_command(job, 'train.py', python='py')
        assert cmd[:6] == ['py', 'train.py', str(config), '--work-dir',
                           job.work_dir, '--fast-path']
        assert cmd[6:9] == ['--amp', 'bf16', '--cfg-options']


def test_train_flags_are_train_pys():
    assert train_flags() == []
    assert train_flags(True, 'bf16', True, 'reduce-overhead') == [
        '--fast-path', '--amp', 'bf16', '--channels-last', '--compile',
        'reduce-overhead']
    assert train_flags(compile=True) == ['--compile']
    # tools/train.py takes them as they are.
    for compile_ in (True, 'max-autotune'):
        args = parse_tool_args(['tools/train.py', 'c.py',
                                *train_flags(True, 'bf16', True, compile_)])
        assert (args.fast_path, args.amp, args.channels_last,
                args.compile) == (True, 'bf16', True, compile_)


def test_options_to_args():
    assert options_to_args({'a.b': [24, 27], 'c': 2, 'd': 'x'}) == [
        'a.b=[24,27]', 'c=2', 'd=x']


@pytest.mark.slow
def test_smoke_run_trains_tabulates_and_skips_finished_jobs(tmp_path):
    tool = REPO / 'tools/analysis_tools/reproduce.py'
    out = tmp_path / 'table.json'
    # Two jobs at a time, one thread each (the CI machine has 2 cores).
    args = [PYTHON, tool, '--smoke', '--work-dir', tmp_path / 'repro',
            '--out', out, '--parallel', '2']
    proc = run_tool(args, cwd=tmp_path, env=dict(OMP_NUM_THREADS='1'))
    rows = json.loads(out.read_text())['rows']
    # CE, ACE and ACE's 3 experts alone, each over seeds 0 and 1.
    assert [(r['config'], r['readout']) for r in rows] == [
        ('ce_r32_digits-lt', 'model'), ('ace_r32_digits-lt', 'model'),
        ('ace_r32_digits-lt', 'expert 1'), ('ace_r32_digits-lt', 'expert 2'),
        ('ace_r32_digits-lt', 'expert 3')]
    assert all(r['seeds'] == 2 and r['epochs'] == [2] for r in rows)
    assert '| ace_r32_digits-lt | model | 2 | 2 |' in proc.stdout
    stamps = sorted((tmp_path / 'repro').glob('*/seed*/2*'))
    # A second call finds every job finished: nothing is trained again.
    again = run_tool(args, cwd=tmp_path, env=dict(OMP_NUM_THREADS='1'))
    assert sorted((tmp_path / 'repro').glob('*/seed*/2*')) == stamps
    assert json.loads(out.read_text())['rows'] == rows
    assert again.stdout == proc.stdout
