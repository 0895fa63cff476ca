""".dev_scripts/benchmark/loop_overhead.py measures what the runner adds:
an overhead put into the loop on purpose (a hook that sleeps) shows up in
its numbers, and the epoch it times is the whole epoch."""
import json
import math

import pytest
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmpretrain.registry import DATASETS

from conftest import ACE_DIGITS, PYTHON, REPO, run_tool

LOOP = REPO / '.dev_scripts/benchmark/loop_overhead.py'
SLEEP_S = 0.2

SLEEP_HOOK = '''
import time

from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS


@HOOKS.register_module(force=True)
class SleepHook(Hook):

    def __init__(self, seconds=0.):
        self.seconds = seconds

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        time.sleep(self.seconds)
'''


def digits_iterations() -> int:
    cfg = Config.fromfile(ACE_DIGITS)
    import mmace  # noqa: F401
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        dataset = DATASETS.build(cfg.train_dataloader.dataset)
    return math.ceil(len(dataset) / cfg.train_dataloader.batch_size)


@pytest.mark.slow
def test_an_overhead_put_into_the_loop_is_measured(tmp_path):
    (tmp_path / 'sleep_hook.py').write_text(SLEEP_HOOK)
    config = tmp_path / 'ace_digits_sleep.py'
    config.write_text(
        f"_base_ = '{ACE_DIGITS}'\n"
        "custom_imports = dict(imports=['mmace', 'sleep_hook'], "
        "allow_failed_imports=False)\n"
        "custom_hooks = [dict(type='SwitchOffBatchAugHook', "
        "num_last_epochs=5), dict(type='SleepHook', seconds=0.)]\n")
    out = tmp_path / 'loop.json'
    proc = run_tool([
        PYTHON, LOOP, config, '--json', out, '--variant',
        f'custom_hooks.1.seconds={SLEEP_S}'
    ], cwd=tmp_path, timeout=600,
        env={'PYTHONPATH': str(tmp_path), 'OMP_NUM_THREADS': '1'})
    # It says what it is doing as it goes.
    assert '[loop_overhead] runner epoch done' in proc.stdout
    assert '[loop_overhead] plain steps: timing' in proc.stdout
    res = json.loads(out.read_text())
    default, slow = res['runs']['default'], res['runs']['variant']
    iters = digits_iterations()
    # The whole epoch, and as many plain steps.
    assert default['iters'] == slow['iters'] == res['plain']['steps'] == iters
    # The sleeping hook's time is in the variant's loop time, not hidden
    # or smoothed away: mmengine's iteration timer restarts before the
    # hook sleeps, so each sleep but the last lands in the next
    # iteration's data time. Lower bounds, which load cannot break.
    sleeps = SLEEP_S * (iters - 1)
    assert slow['data_s'] >= sleeps, (sleeps, slow)
    assert slow['loop_s'] >= slow['data_s']
    # The epoch's iterations are inside the process that ran them.
    for run in (default, slow):
        assert run['loop_s'] <= run['process_wall_s'], run
