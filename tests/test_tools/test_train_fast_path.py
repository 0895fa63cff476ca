"""tools/train.py --fast-path / --amp bf16 / --channels-last, as a user
runs them (on a CPU here; the same flags are meant for a GPU)."""
import pytest

from conftest import ACE_DIGITS, PYTHON, REPO, last_scalars, run_tool

TRAIN = REPO / 'tools' / 'train.py'


@pytest.mark.slow
def test_fast_path_flags_train_and_validate(tmp_path):
    work = tmp_path / 'work'
    run_tool([
        PYTHON, TRAIN, ACE_DIGITS, '--work-dir', work, '--fast-path',
        '--amp', 'bf16', '--channels-last', '--cfg-options',
        'train_cfg.max_epochs=2', 'train_cfg.val_interval=2'
    ], cwd=tmp_path)
    dumped = (work / 'ace_r32_digits-lt.py').read_text()
    assert "type='BatchCropFlipDataPreprocessor'" in dumped
    assert "type='BufferedRuntimeInfoHook'" in dumped
    assert "type='BF16OptimWrapper'" in dumped
    assert "'cuda'" in dumped  # channels_last on CUDA too
    # It validated at the last epoch (last_scalars fails otherwise).
    assert last_scalars(work)['step'] == 2
    # Every loss term still reaches the log.
    logs = sorted(work.glob('*/vis_data/scalars.json'))[-1].read_text()
    assert '"loss_com_e2"' in logs
