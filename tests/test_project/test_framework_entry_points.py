"""mmace configs train through the frameworks' own ``tools/train.py``.

``mim train mmpretrain|mmdet|mmseg CONFIG`` runs the ``tools/train.py`` that
each package ships in its ``.mim`` folder. Those scripts build
``runner_type`` from mmengine's root ``RUNNERS`` (mmpretrain, mmdet) and
default ``persistent_workers=True`` (mmpretrain), so an mmace config must
work under them exactly as under ``tools/train.py`` of this repository.
"""
import importlib
from pathlib import Path

import pytest

from conftest import PYTHON, REPO, SHARED, run_tool

COCO_LT = SHARED / 'data' / 'coco-lt-mini'


def mim_train(package: str) -> Path:
    module = pytest.importorskip(package)
    script = Path(module.__file__).parent / '.mim' / 'tools' / 'train.py'
    if not script.is_file():
        pytest.skip(f'{package} has no .mim/tools/train.py')
    return script


@pytest.mark.slow
def test_mmpretrain_train_py_runs_the_quickstart(tmp_path):
    script = mim_train('mmpretrain')
    proc = run_tool([
        PYTHON, script, REPO / 'configs/quickstart/ace_r32_digits-lt.py',
        '--work-dir', tmp_path / 'work', '--cfg-options',
        'train_cfg.max_epochs=1'
    ], cwd=tmp_path, env=dict(OMP_NUM_THREADS='1'))
    assert 'Epoch(val) [1]' in proc.stdout + proc.stderr
    assert (tmp_path / 'work' / 'epoch_1.pth').is_file()


@pytest.mark.skipif(not (COCO_LT / 'annotations').is_dir(),
                    reason=f'coco-lt-mini not found at {COCO_LT}')
@pytest.mark.slow
def test_mmdet_train_py_runs_an_ace_detector(tmp_path):
    importlib.import_module('mmace.det')
    script = mim_train('mmdet')
    (tmp_path / 'data').mkdir()
    (tmp_path / 'data' / 'coco-lt-mini').symlink_to(COCO_LT)
    proc = run_tool([
        PYTHON, script,
        REPO / 'configs/det/ace_faster-rcnn_r18_fpn_coco-lt-mini_cpu_overfit16.py',
        '--work-dir', tmp_path / 'work', '--cfg-options',
        'train_cfg.max_epochs=1', 'train_cfg.val_interval=1'
    ], cwd=tmp_path, env=dict(OMP_NUM_THREADS='1'))
    assert 'loss_cls_e2' in proc.stdout + proc.stderr
    assert (tmp_path / 'work' / 'epoch_1.pth').is_file()
