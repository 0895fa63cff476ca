"""tools/analysis_tools/dataset_stats.py: counts, imbalance, splits and the
plot of a config's training set, and a list file naming no image for a
class (issue 9, case 11)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import (CIFAR10_JPEG, PYTHON, REPO, needs_cifar10_jpeg,
                      run_tool)


@pytest.mark.slow
def test_dataset_stats_tool(tmp_path):
    cfg = tmp_path / 'lt_digits.py'
    cfg.write_text(
        "default_scope = 'mmpretrain'\n"
        "custom_imports = dict(imports=['mmace'], "
        'allow_failed_imports=False)\n'
        'train_dataloader = dict(batch_size=4, dataset=dict(\n'
        "    type='LongTailDataset', dataset=dict(type='LTDigits'),\n"
        '    imb_factor=10))\n')
    out_json, out_png = tmp_path / 'stats.json', tmp_path / 'stats.png'
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(
            [str(REPO), os.environ.get('PYTHONPATH', '')]))
    proc = subprocess.run([
        sys.executable,
        str(REPO / 'tools/analysis_tools/dataset_stats.py'),
        str(cfg), '--json',
        str(out_json), '--plot',
        str(out_png), '--cfg-options',
        'train_dataloader.dataset.imb_factor=20', '--many-thr', '50',
        '--few-thr', '10'
    ],
                          env=env,
                          cwd=str(tmp_path),
                          capture_output=True,
                          text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    stats = json.loads(out_json.read_text())
    assert stats['num_classes'] == 10
    assert stats['counts'] == [128, 95, 68, 48, 35, 25, 18, 12, 9, 6]
    assert stats['imbalance_factor'] == pytest.approx(128 / 6)
    assert stats['splits'] == {'many': 3, 'medium': 5, 'few': 2}
    assert out_png.read_bytes()[:4] == b'\x89PNG'
    assert 'Imbalance factor (max/min): 21.33' in proc.stdout


def _list_file(path: Path, lines) -> Path:
    path.write_text(''.join(f'{p} {label}\n' for p, label in lines))
    return path


# 11. A list naming no image for some class ---------------------------------
@needs_cifar10_jpeg
@pytest.mark.slow
def test_list_with_empty_class_warns_naming_it(tmp_path):
    ann = _list_file(tmp_path / 'list.txt', [
        ('train/cat/0000.jpg', 0), ('train/dog/0000.jpg', 1),
        ('train/frog/0000.jpg', 3)
    ])
    cfg = tmp_path / 'list_cfg.py'
    cfg.write_text(
        "custom_imports = dict(imports=['mmace'], "
        'allow_failed_imports=False)\n'
        'train_dataloader = dict(dataset=dict(type="LTListDataset", '
        f'ann_file="{ann}", data_root="{CIFAR10_JPEG}", '
        "classes=['cat', 'dog', 'deer', 'frog'], pipeline=[]))\n")
    proc = run_tool([
        PYTHON, REPO / 'tools/analysis_tools/dataset_stats.py', cfg
    ], cwd=tmp_path)
    out = proc.stdout + proc.stderr
    assert f"{ann} lists no image for 1 of 4 classes: class 2 ('deer')" \
        in out, out[-3000:]
