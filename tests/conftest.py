"""Shared paths, tool runners and the one trained model of the test suite.

The tests mirror the package (``tests/test_models/test_heads/...`` for
``mmace/models/heads/...``); ``tests/test_tools`` runs the scripts under
``tools/``, ``tests/test_dev_scripts`` those under ``.dev_scripts/`` and
``tests/test_project`` checks configs, README, model index and packaging.
Test files are imported by basename (pytest's default import mode, no
``__init__.py``): basenames must be unique across ``tests/``. Import the
helpers below with ``from conftest import ...``; compute no paths from
``__file__``.
"""
import importlib.util
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from mmengine.registry import DefaultScope
from mmpretrain.datasets import BaseDataset


def _share_cores_among_workers():
    """Under pytest-xdist (``-n N``) give each worker, and the tools it runs
    as subprocesses, its share of torch's default threads (one per usable
    core): N processes that each start them all oversubscribe the machine,
    and spinning OpenMP threads then make every run several times slower.
    An explicit ``OMP_NUM_THREADS`` is kept."""
    workers = int(os.environ.get('PYTEST_XDIST_WORKER_COUNT', '1'))
    if workers < 2 or 'OMP_NUM_THREADS' in os.environ:
        return
    threads = max(1, torch.get_num_threads() // workers)
    os.environ['OMP_NUM_THREADS'] = os.environ['MKL_NUM_THREADS'] = \
        str(threads)
    torch.set_num_threads(threads)


_share_cores_among_workers()

# The repository root, wherever a test file sits under tests/.
REPO = Path(__file__).resolve().parents[1]
# ../shared beside the checkout (read-only in CI); MMACE_SHARED overrides.
SHARED = Path(os.environ.get('MMACE_SHARED', REPO.parent / 'shared'))
CIFAR10_JPEG = SHARED / 'data' / 'cifar10-jpeg'
LT_LISTS = SHARED / 'data' / 'lt-lists'
PYTHON = sys.executable

# The quick-start configs (scikit-learn's digits: nothing to download).
ACE_DIGITS = REPO / 'configs/quickstart/ace_r32_digits-lt.py'
CE_DIGITS = REPO / 'configs/quickstart/ce_r32_digits-lt.py'

class ToyDataset(BaseDataset):
    """Labels only: ``per_class[c]`` samples of class c, classes interleaved
    (like the CIFAR pickles)."""

    def __init__(self, per_class, **kwargs):
        self.per_class = list(per_class)
        classes = [f'c{i}' for i in range(len(self.per_class))]
        super().__init__(ann_file='', classes=classes, **kwargs)

    def load_data_list(self):
        remaining = list(self.per_class)
        data_list = []
        while any(remaining):
            for c, n in enumerate(remaining):
                if n:
                    data_list.append(dict(gt_label=c))
                    remaining[c] -= 1
        return data_list


def samples(labels):
    """DataSamples carrying the given hard labels."""
    from mmpretrain.structures import DataSample
    return [DataSample().set_gt_label(int(y)) for y in labels]


def ace_cifar_model(class_counts, depth=20, **head):
    """A 3-expert ACE ImageClassifier on a CIFAR ResNet, 10 classes; extra
    keywords go to the ACEHead (``data_preprocessor=`` to the model)."""
    from mmpretrain.registry import MODELS
    preprocessor = head.pop('data_preprocessor', None)
    model = dict(
        type='ImageClassifier',
        backbone=dict(
            type='ACEBackbone',
            backbone=dict(type='CIFARResNet', depth=depth),
            num_experts=3),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='ACEHead', num_classes=10, in_channels=64,
                  class_counts=class_counts, **head))
    if preprocessor is not None:
        model['data_preprocessor'] = preprocessor
    return MODELS.build(model)


needs_cifar10_jpeg = pytest.mark.skipif(
    not (CIFAR10_JPEG / 'train').is_dir(),
    reason=f'real CIFAR-10 JPEGs not found at {CIFAR10_JPEG}')


_PARSERS = {}


def parse_tool_args(argv):
    """``argv`` (a repo script and its arguments) through the script's own
    ``parse_args()``; a refusal fails the test, naming the command."""
    script = REPO / argv[0]
    assert script.is_file(), f'{argv[0]} does not exist'
    if script not in _PARSERS:
        spec = importlib.util.spec_from_file_location(
            f'_tool_{script.stem}', script)
        module = importlib.util.module_from_spec(spec)
        # As `python SCRIPT` runs it: its folder first on the path.
        sys.path.insert(0, str(script.parent))
        try:
            spec.loader.exec_module(module)
        finally:
            sys.path.remove(str(script.parent))
        _PARSERS[script] = getattr(module, 'parse_args', None)
    parse_args = _PARSERS[script]
    if parse_args is None:
        return None
    old_argv, old_env = sys.argv, dict(os.environ)
    sys.argv = [str(script), *argv[1:]]
    try:
        return parse_args()
    except SystemExit as e:
        pytest.fail(f'{" ".join(argv)}: the parser refused it ({e})')
    finally:
        sys.argv = old_argv
        os.environ.clear()
        os.environ.update(old_env)


def run_tool(args, cwd, timeout=600, env=None):
    """Run a repo tool as a user would; fail with its output on error."""
    full_env = dict(os.environ, PYTHONUNBUFFERED='1', **(env or {}))
    proc = subprocess.run(
        args, cwd=cwd, env=full_env, capture_output=True, text=True,
        timeout=timeout)
    if proc.returncode != 0:
        pytest.fail(f'{" ".join(map(str, args))} exited {proc.returncode}\n'
                    f'--- stdout ---\n{proc.stdout[-6000:]}\n'
                    f'--- stderr ---\n{proc.stderr[-6000:]}')
    return proc


def run_failing(args, cwd, timeout=600, env=None):
    """Run a tool that must fail; return its combined output."""
    proc = subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True,
        timeout=timeout,
        env=dict(os.environ, PYTHONUNBUFFERED='1', **(env or {})))
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, f'expected a failure, got:\n{out[-3000:]}'
    return out


def assert_one_clear_error(out: str, kind: str) -> None:
    """The tool reported ``kind`` as one line, without a traceback."""
    assert f'{kind}: ' in out, out[-3000:]
    assert 'Traceback' not in out, out[-3000:]


def last_scalars(work_dir: Path) -> dict:
    """The last validation metrics mmengine logged in vis_data/scalars.json."""
    files = sorted(work_dir.glob('*/vis_data/scalars.json'))
    assert files, f'no scalars.json under {work_dir}'
    rows = [json.loads(line) for line in files[-1].read_text().splitlines()]
    val = [r for r in rows if 'accuracy/top1' in r]
    assert val, f'no validation metrics in {files[-1]}'
    return val[-1]


def corrupt_checkpoint(kind: str, good: Path, path: Path) -> Path:
    """Write a broken copy of the checkpoint ``good`` to ``path``."""
    data = good.read_bytes()
    path.write_bytes({
        'empty': b'',
        'truncated': data[:len(data) // 2],
        'not-a-checkpoint': b'epoch 3, loss 0.12\n',
    }[kind])
    return path


# ----------------------------------------------- real CIFAR-10 JPEG trees
def bad_image_bytes(kind: str) -> bytes:
    """An empty, a truncated (real JPEG) or a non-image file's bytes."""
    jpeg = (CIFAR10_JPEG / 'train' / 'cat' / '0000.jpg').read_bytes()
    return {
        'empty': b'',
        'truncated': jpeg[:len(jpeg) // 2],
        'not-an-image': b'<html>404 Not Found</html>\n',
    }[kind]


def make_cifar_tree(root: Path, per_class: int, bad=()) -> Path:
    """``root/train/<class>/`` with real JPEGs; bad files go into 'cat'."""
    from mmpretrain.datasets import CIFAR10
    for name in CIFAR10.METAINFO['classes']:
        folder = root / 'train' / name
        folder.mkdir(parents=True)
        for src in sorted((CIFAR10_JPEG / 'train' / name).iterdir())[
                :per_class]:
            (folder / src.name).symlink_to(src)
    for kind in bad:
        (root / 'train' / 'cat' / f'zz_{kind}.jpg').write_bytes(
            bad_image_bytes(kind))
    return root


@pytest.fixture
def user_dir(tmp_path):
    """A working directory laid out like a user's: data/cifar10 symlinked."""
    data = tmp_path / 'data'
    data.mkdir()
    if CIFAR10_JPEG.is_dir():
        (data / 'cifar10').symlink_to(CIFAR10_JPEG)
    return tmp_path


# ------------------------------------------------- the one trained model
@dataclass(frozen=True)
class TrainedRun:
    """A finished ``tools/train.py`` run. Shared by the whole session: read
    its files, never write into ``work_dir`` (copy what you change, and give
    other tools their own ``--work-dir``)."""
    config: Path
    work_dir: Path
    output: str  # train.py's stdout + stderr
    epochs: int

    def ckpt(self, epoch: int) -> Path:
        return self.work_dir / f'epoch_{epoch}.pth'

    @property
    def last(self) -> Path:
        return self.ckpt(self.epochs)


@dataclass(frozen=True)
class TrainedDigits:
    ace: TrainedRun
    ce: TrainedRun


@pytest.fixture(scope='session')
def trained_digits(tmp_path_factory):
    """ACE (3 experts) and CE trained once per session on Digits-LT by
    ``tools/train.py``, one thread (about 10 s each, mostly start-up).

    ``ace``: 4 epochs (milestones 2, 3; Mixup off in the last), a checkpoint
    after every epoch (``epoch_1.pth`` .. ``epoch_4.pth``), validated after
    the last. ``ce``: 1 epoch, no validation, started with ``--resume`` in an
    empty work dir and, without a GPU, ``--amp`` (which falls back to fp32);
    tests check what ``output`` says about both. Its files are checked at
    the end of the session: a test that wrote into them errors.
    """
    root = tmp_path_factory.mktemp('trained_digits')
    env = {'OMP_NUM_THREADS': '1'}
    ace_work = root / 'ace'
    proc = run_tool([
        PYTHON, REPO / 'tools/train.py', ACE_DIGITS, '--work-dir', ace_work,
        '--cfg-options', 'train_cfg.max_epochs=4', 'train_cfg.val_interval=4',
        'param_scheduler.1.milestones=[2,3]',
        'custom_hooks.0.num_last_epochs=1',
        'default_hooks.checkpoint.interval=1',
        'default_hooks.checkpoint.max_keep_ckpts=-1'
    ], cwd=root, env=env)
    ace = TrainedRun(ACE_DIGITS, ace_work, proc.stdout + proc.stderr, 4)
    ce_work = root / 'ce'
    amp = [] if torch.cuda.is_available() else ['--amp']
    proc = run_tool([
        PYTHON, REPO / 'tools/train.py', CE_DIGITS, '--work-dir', ce_work,
        '--resume', '--no-validate', *amp, '--cfg-options',
        'train_cfg.max_epochs=1'
    ], cwd=root, env=env)
    ce = TrainedRun(CE_DIGITS, ce_work, proc.stdout + proc.stderr, 1)
    for run in (ace, ce):
        for epoch in range(1, run.epochs + 1):
            assert run.ckpt(epoch).is_file(), list(run.work_dir.iterdir())
    before = _snapshot(root)
    yield TrainedDigits(ace=ace, ce=ce)
    # Shared by every test: none may have changed, added or removed a file.
    after = _snapshot(root)
    changed = sorted(str(p.relative_to(root)) for p in before.keys()
                     | after.keys() if before.get(p) != after.get(p))
    assert not changed, f'a test wrote into trained_digits: {changed}'


def _snapshot(root: Path) -> dict:
    return {p: (p.stat().st_size, p.stat().st_mtime_ns)
            for p in root.rglob('*') if p.is_file()}


@pytest.fixture(autouse=True)
def isolated_default_scope():
    """Each test starts with the default scopes the session started with.

    mmengine's current default scope is global: a Runner built by one test
    (``default_scope='mmdet'``) would otherwise make the next test's
    ``MODELS.build`` look in mmdet's registry instead of mmpretrain's.
    """
    before = list(DefaultScope._instance_dict.items())
    yield
    DefaultScope._instance_dict.clear()
    DefaultScope._instance_dict.update(before)
