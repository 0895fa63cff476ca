""".dev_scripts/benchmark/gpu_check.sh --smoke runs on CPU and reports.

Sizes are tiny; nothing about speed is asserted.
"""
import json

import pytest

from conftest import REPO, run_tool

GPU_CHECK = REPO / '.dev_scripts/benchmark/gpu_check.sh'


@pytest.mark.slow
def test_gpu_check_smoke_on_cpu(tmp_path):
    out = tmp_path / 'speed.json'
    proc = run_tool(['bash', GPU_CHECK, '--smoke', '--device', 'cpu',
                     '--json', out], cwd=tmp_path, timeout=600)
    text = proc.stdout
    assert 'speed check: CPU' in text and 'SMOKE' in text
    header = next(line for line in text.splitlines()
                  if line.startswith('model ') and 'AMP' in line)
    for column in ('AMP', 'channels_last', 'compile', 'train img/s',
                   'infer img/s', 'peak MiB'):
        assert column in header
    assert '400 epochs EXTRAPOLATED' in text
    res = json.loads(out.read_text())
    timed = [r for r in res['rows'] if 'train_img_s' in r]
    assert {(r['model'], r['channels_last']) for r in timed} == {
        ('CE', False), ('CE', True), ('ACE', False), ('ACE', True)}
    assert all(r['train_img_s'] > 0 and r['infer_img_s'] > 0 for r in timed)
    # AMP rows say why they are empty on a CPU.
    assert sum(r.get('note') == 'AMP needs CUDA' for r in res['rows']) == 2
    recipe = res['recipe']
    # 100 generated images per class, long-tailed at imbalance 100.
    assert recipe['epochs'] == 1 and recipe['images_per_epoch'] == 2131
    assert recipe['extrapolated_400_epochs_s'] > sum(
        recipe['train_epoch_s'])
