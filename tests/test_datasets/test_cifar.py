"""Issue 9: corrupt image files, and list files naming no image for a class.

Built from the real CIFAR-10 JPEGs (symlinked into ``tmp_path``) plus an
empty, a truncated and a non-image file.
"""
import subprocess
from pathlib import Path

import pytest

from mmace.datasets import CIFARFolder, LTListDataset
from mmace.utils.errors import BadImageError
from mmpretrain.datasets import CIFAR10

from conftest import CIFAR10_JPEG, PYTHON, REPO, needs_cifar10_jpeg, run_tool

CLASSES = CIFAR10.METAINFO['classes']
CE_CIFAR = REPO / 'configs/baseline/ce_r32_cifar10-lt-100.py'


def _real_jpeg() -> bytes:
    return (CIFAR10_JPEG / 'train' / 'cat' / '0000.jpg').read_bytes()


def bad_bytes(kind: str) -> bytes:
    return {
        'empty': b'',
        'truncated': _real_jpeg()[:len(_real_jpeg()) // 2],
        'not-an-image': b'<html>404 Not Found</html>\n',
    }[kind]


def make_cifar_tree(root: Path, per_class: int, bad=()) -> Path:
    """``root/train/<class>/`` with real JPEGs; bad files go into 'cat'."""
    for name in CLASSES:
        folder = root / 'train' / name
        folder.mkdir(parents=True)
        for src in sorted((CIFAR10_JPEG / 'train' / name).iterdir())[
                :per_class]:
            (folder / src.name).symlink_to(src)
    for kind in bad:
        (root / 'train' / 'cat' / f'zz_{kind}.jpg').write_bytes(
            bad_bytes(kind))
    return root


# 3. Corrupt images -----------------------------------------------------------
@needs_cifar10_jpeg
@pytest.mark.parametrize('kind', ['empty', 'truncated', 'not-an-image'])
def test_cifar_folder_names_bad_image(kind, tmp_path):
    root = make_cifar_tree(tmp_path, 2, [kind])
    dataset = CIFARFolder(str(root), metainfo=dict(classes=CLASSES))
    bad = next(i for i in range(len(dataset))
               if 'zz_' in dataset._get_raw_info(i)['img_path'])
    with pytest.raises(BadImageError) as info:
        dataset[bad]
    msg = str(info.value)
    assert f'zz_{kind}.jpg' in msg and 'cannot decode image' in msg
    assert {'empty': 'empty file', 'truncated': 'truncated or corrupt JPEG',
            'not-an-image': 'not an image'}[kind] in msg
    assert 'skip_bad_images=True' in msg


@needs_cifar10_jpeg
def test_cifar_folder_skips_bad_images_when_asked(tmp_path):
    root = make_cifar_tree(tmp_path, 2, ['empty', 'truncated'])
    dataset = CIFARFolder(
        str(root), metainfo=dict(classes=CLASSES), skip_bad_images=True)
    cat = CLASSES.index('cat')
    for i in range(len(dataset)):
        info = dataset[i]
        assert info['gt_label'] == dataset._get_raw_info(i)['gt_label']
        assert 'zz_' not in info['img_path']
        assert info['img'].shape == (32, 32, 3)
        if 'zz_' in dataset._get_raw_info(i)['img_path']:
            assert info['gt_label'] == cat  # replaced within its class
    assert len(dataset._bad_images.skipped) == 2
    # A test split is never skipped: that would change the evaluation.
    test_split = CIFARFolder(
        str(root), metainfo=dict(classes=CLASSES), skip_bad_images=True,
        test_mode=True)
    with pytest.raises(BadImageError, match='does not apply to a test'):
        [test_split[i] for i in range(len(test_split))]


@needs_cifar10_jpeg
@pytest.mark.slow
def test_train_tool_names_bad_image_or_skips_it(tmp_path):
    make_cifar_tree(tmp_path / 'data' / 'cifar10', 20,
                    ['empty', 'truncated', 'not-an-image'])
    train = [
        PYTHON, REPO / 'tools/train.py', CE_CIFAR, '--work-dir',
        tmp_path / 'work', '--no-validate', '--cfg-options',
        'train_cfg.max_epochs=1', 'train_dataloader.dataset.imb_factor=1',
        'train_dataloader.num_workers=0', 'randomness.seed=0'
    ]
    proc = subprocess.run([str(a) for a in train], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-3000:]
    assert 'BadImageError: CIFARFolder: cannot decode image' in out, \
        out[-3000:]
    assert 'Traceback' not in out
    line = out[out.index('BadImageError: '):].splitlines()[0]
    assert any(f'zz_{k}.jpg' in line
               for k in ('empty', 'truncated', 'not-an-image')), line

    proc = run_tool(
        train + ['train_dataloader.dataset.dataset.skip_bad_images=True'],
        cwd=tmp_path)
    out = proc.stdout + proc.stderr
    for kind in ('empty', 'truncated', 'not-an-image'):
        assert f"skipped bad image 'data/cifar10/train/cat/zz_{kind}.jpg'" \
            in out, out[-3000:]
    assert '3 skipped so far' in out
    assert (tmp_path / 'work' / 'epoch_1.pth').is_file()


def _list_file(path: Path, lines) -> Path:
    path.write_text(''.join(f'{p} {label}\n' for p, label in lines))
    return path


@needs_cifar10_jpeg
def test_list_dataset_names_bad_image_or_skips_it(tmp_path):
    root = make_cifar_tree(tmp_path / 'root', 2, ['empty'])
    ann = _list_file(tmp_path / 'list.txt', [
        ('train/cat/0000.jpg', 0), ('train/cat/zz_empty.jpg', 0),
        ('train/cat/0001.jpg', 0), ('train/dog/0000.jpg', 1)
    ])
    pipeline = [dict(type='LoadImageFromFile')]
    dataset = LTListDataset(
        str(ann), data_root=str(root), pipeline=pipeline)
    with pytest.raises(BadImageError) as info:
        dataset[1]
    assert 'zz_empty.jpg' in str(info.value)
    assert 'empty file' in str(info.value) and str(ann) in str(info.value)

    dataset = LTListDataset(
        str(ann), data_root=str(root), pipeline=pipeline,
        skip_bad_images=True)
    assert dataset[1]['img_path'].endswith('cat/0001.jpg')


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
