""".dev_scripts/benchmark/gpu_check.sh --smoke on a CPU measures what it
says: a train step costs more per image than inference, ACE (5/3 of the
CE baseline's FLOPs) is slower than CE, the recipe slice trains the
long-tailed subset, and AMP rows say why they are empty without CUDA."""
import json

import numpy as np
import pytest

from conftest import REPO, run_tool

GPU_CHECK = REPO / '.dev_scripts/benchmark/gpu_check.sh'


@pytest.mark.slow
def test_gpu_check_smoke_on_cpu_measures_the_models(tmp_path):
    out = tmp_path / 'speed.json'
    run_tool(['bash', GPU_CHECK, '--smoke', '--device', 'cpu', '--json', out],
             cwd=tmp_path, timeout=600, env={'OMP_NUM_THREADS': '1'})
    res = json.loads(out.read_text())
    timed = {(r['model'], r['channels_last']): r for r in res['rows']
             if 'train_img_s' in r}
    assert set(timed) == {(m, cl) for m in ('CE', 'ACE')
                          for cl in (False, True)}
    for row in timed.values():
        # Forward + backward + SGD against a forward alone.
        assert row['infer_img_s'] > row['train_img_s'] > 0
    # ACE does 1.65x the CE baseline's work per image.
    assert any(timed[('ACE', cl)]['train_img_s'] <
               timed[('CE', cl)]['train_img_s'] for cl in (False, True))
    assert [r['model'] for r in res['rows'] if r.get('amp') and
            r.get('note') == 'AMP needs CUDA'] == ['CE', 'ACE']
    recipe = res['recipe']
    # Smoke: 100 generated images per class, long-tailed at imbalance 100
    # (n_i = floor(100 * 100^(-i / 99))), one epoch, timed.
    subset = int(np.floor(100 * 100.**(-np.arange(100) / 99)).sum())
    assert recipe['epochs'] == 1 and recipe['images_per_epoch'] == subset
    assert recipe['train_epoch_s'][0] > 0
    assert recipe['extrapolated_400_epochs_s'] >= 400 * min(
        recipe['train_epoch_s'])
