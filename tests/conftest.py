import os
import subprocess
import sys
from pathlib import Path

import pytest
from mmengine.registry import DefaultScope

REPO = Path(__file__).resolve().parents[1]
# ../shared beside the checkout (read-only in CI); MMACE_SHARED overrides.
SHARED = Path(os.environ.get('MMACE_SHARED', REPO.parent / 'shared'))
CIFAR10_JPEG = SHARED / 'data' / 'cifar10-jpeg'
LT_LISTS = SHARED / 'data' / 'lt-lists'

needs_cifar10_jpeg = pytest.mark.skipif(
    not (CIFAR10_JPEG / 'train').is_dir(),
    reason=f'real CIFAR-10 JPEGs not found at {CIFAR10_JPEG}')


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


@pytest.fixture
def user_dir(tmp_path):
    """A working directory laid out like a user's: data/cifar10 symlinked."""
    data = tmp_path / 'data'
    data.mkdir()
    if CIFAR10_JPEG.is_dir():
        (data / 'cifar10').symlink_to(CIFAR10_JPEG)
    return tmp_path


PYTHON = sys.executable


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
