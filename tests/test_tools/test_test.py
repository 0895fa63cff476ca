"""tools/test.py as a user runs it: metrics of a checkpoint, the checkpoint
of another model or a corrupt one (issue 9), and mmpretrain's inferencer on
the same checkpoint. The checkpoints are the session's ``trained_digits``."""
import json

import pytest

import mmace  # noqa: F401  (checkpoints load with weights_only=True)

from conftest import (ACE_DIGITS, CE_DIGITS, PYTHON, REPO,
                      assert_one_clear_error, corrupt_checkpoint,
                      run_failing, run_tool)

ACE, CE = ACE_DIGITS, CE_DIGITS
TEST = REPO / 'tools/test.py'
# One thread, as the runs that wrote the checkpoints.
ENV = {'OMP_NUM_THREADS': '1'}


def output(proc) -> str:
    return proc.stdout + proc.stderr


# 2. Checkpoint / config mismatch -------------------------------------------
MISMATCHES = {
    # 3-expert checkpoint, 4-expert config
    'ace3-into-ace4': ('ace', ACE, [
        'model.backbone.num_experts=4', 'model.head.num_experts=4'
    ], 'backbone.experts.3.'),
    'ce-into-ace': ('ce', ACE, [], 'missing keys (backbone.experts.0.'),
    'ace-into-ce': ('ace', CE, [], 'unexpected keys (backbone.experts.0.'),
}


@pytest.mark.parametrize('case', list(MISMATCHES))
@pytest.mark.slow
def test_test_tool_refuses_checkpoint_of_another_model(case, trained_digits,
                                                       tmp_path):
    source, config, options, key = MISMATCHES[case]
    ckpt = getattr(trained_digits, source).ckpt(1)
    out = run_failing([
        PYTHON, TEST, config, ckpt, '--work-dir', tmp_path,
        *(['--cfg-options', *options] if options else [])
    ], cwd=tmp_path, env=ENV)
    assert_one_clear_error(out, 'CheckpointError')
    msg = out[out.index('CheckpointError: '):].splitlines()[0]
    assert str(ckpt) in msg and str(config) in msg, msg
    assert key in msg, msg
    assert 'load_strict=False' in msg, msg
    # Failed before evaluating anything.
    assert 'accuracy/top1' not in out


@pytest.mark.slow
def test_load_strict_false_evaluates_anyway(trained_digits, tmp_path):
    ckpt = trained_digits.ce.ckpt(1)
    proc = run_tool([
        PYTHON, TEST, ACE, ckpt, '--work-dir', tmp_path, '--cfg-options',
        'load_strict=False'
    ], cwd=tmp_path, env=ENV)
    out = output(proc)
    assert 'does not fit the model' in out and 'accuracy/top1' in out


# 4. Corrupt checkpoints ----------------------------------------------------
@pytest.mark.slow
def test_test_tool_names_corrupt_checkpoint(trained_digits, tmp_path):
    bad = corrupt_checkpoint('truncated', trained_digits.ace.ckpt(1),
                             tmp_path / 'epoch_1.pth')
    out = run_failing([PYTHON, TEST, ACE, bad, '--work-dir', tmp_path],
                      cwd=tmp_path, env=ENV)
    assert_one_clear_error(out, 'CheckpointError')
    assert f"'{bad}' is not a readable checkpoint" in out
    assert 'PytorchStreamReader' in out  # the cause, in one line


# mmpretrain's inferencer ---------------------------------------------------
@pytest.mark.slow
def test_ace_checkpoint_tests_and_serves_with_mmpretrain_inferencer(
        trained_digits, tmp_path):
    import numpy as np
    from mmpretrain import ImageClassificationInferencer
    from sklearn.datasets import load_digits

    ckpt = trained_digits.ace.last
    out = tmp_path / 'metrics.json'
    proc = run_tool([
        PYTHON, TEST, ACE_DIGITS, ckpt, '--work-dir', tmp_path / 'work',
        '--out', out, '--expert-scores'
    ], cwd=tmp_path)
    tested = json.loads(out.read_text())
    assert {'accuracy/top1', 'accuracy/expert2_few'} <= tested.keys()
    assert 'expert3' in proc.stdout + proc.stderr  # the printed table

    # Config + checkpoint, no dataset: the planner's counts and masks come
    # from the checkpoint's buffers.
    inferencer = ImageClassificationInferencer(
        model=str(ACE_DIGITS), pretrained=str(ckpt), device='cpu')
    digits = load_digits()
    img = np.repeat((digits.images[0] * 255 / 16).astype(np.uint8)[..., None],
                    3, axis=2)
    result = inferencer(img)[0]
    assert result['pred_class'] in [str(i) for i in range(10)]
    assert np.isclose(np.sum(result['pred_scores']), 1.0, atol=1e-4)


# Testing needs only the test split and the checkpoint (issue 26) ------------
def test_ace_checkpoint_tests_without_the_training_split(tmp_path):
    """CIFAR-10 class folders with a test split only: tools/test.py builds
    no training set (it would not exist, and CIFAR10Auto must not try to
    download it) and takes the class counts from the checkpoint."""
    import cv2
    import numpy as np
    import torch
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    from mmpretrain.datasets import CIFAR10
    from mmpretrain.registry import MODELS

    config = REPO / 'configs/ace/ace_r32_cifar10-lt-100.py'
    data = tmp_path / 'cifar10'
    rng = np.random.default_rng(0)
    for name in CIFAR10.METAINFO['classes']:
        (data / 'test' / name).mkdir(parents=True)
        cv2.imwrite(str(data / 'test' / name / '0.png'),
                    rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
    counts = [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]
    cfg = Config.fromfile(config)
    cfg.model.head.class_counts = counts
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(cfg.model)
    ckpt = tmp_path / 'ace.pth'
    torch.save(dict(state_dict=model.state_dict(),
                    meta=dict(dataset_meta=dict(class_counts=counts))), ckpt)

    out = tmp_path / 'metrics.json'
    proc = run_tool([
        PYTHON, TEST, config, ckpt, '--work-dir', tmp_path / 'work',
        '--out', out, '--cfg-options', f'test_dataloader.dataset.data_root='
        f'{data}', 'test_dataloader.num_workers=0',
        'test_dataloader.persistent_workers=False'
    ], cwd=tmp_path, env=ENV)
    assert 'accuracy/top1' in json.loads(out.read_text())
    log = output(proc)
    assert f'recorded in {ckpt}' in log
    assert not (data / 'train').exists() and not (
        data / 'cifar-10-batches-py').exists()
