"""ONNX export of the folded ACE head (tools/deployment/pytorch2onnx.py),
and the folded head on real images."""
import re

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint
from mmpretrain.registry import DATASETS, MODELS

import mmace  # noqa: F401  (registers the modules)
from mmace.models.ace import fold_ace_head

from conftest import (CIFAR10_JPEG, PYTHON, REPO, needs_cifar10_jpeg,
                      run_tool)

ACE_CIFAR = REPO / 'configs/ace/ace_r32_cifar10-lt-100.py'
EXPORT = REPO / 'tools/deployment/pytorch2onnx.py'


# ------------------------------------------------------ real CIFAR-10
@pytest.fixture(scope='module')
def cifar_ace(tmp_path_factory):
    """An ACE ResNet-32 trained 1 epoch on 1,018 real CIFAR-10-LT images
    (``val_begin=2``: not validated, the tests below evaluate it)."""
    root = tmp_path_factory.mktemp('deploy')
    (root / 'data').mkdir()
    (root / 'data' / 'cifar10').symlink_to(CIFAR10_JPEG)
    work = root / 'work'
    run_tool([
        PYTHON, REPO / 'tools/train.py', ACE_CIFAR, '--work-dir', work,
        '--cfg-options', 'train_cfg.max_epochs=1',
        'train_cfg.val_begin=2', 'param_scheduler.0.end=1',
        'train_dataloader.dataset.max_per_class=300',
        'train_dataloader.dataset.imb_factor=20', 'randomness.seed=0',
        'train_dataloader.num_workers=0'
    ], cwd=root)
    ckpt = work / 'epoch_1.pth'
    assert ckpt.is_file()
    return root, ckpt


def _load(ckpt):
    cfg = Config.fromfile(ACE_CIFAR)
    init_default_scope('mmpretrain')
    cfg.model.data_preprocessor = cfg.data_preprocessor
    cfg.model.head.class_counts = None  # from the checkpoint
    model = MODELS.build(cfg.model)
    load_checkpoint(model, str(ckpt), map_location='cpu', logger='silent')
    return model.eval(), cfg


def _real_test_images(cfg, root, num=64):
    """``num`` CIFAR-10 test JPEGs through the config's test pipeline."""
    dataset_cfg = cfg.test_dataloader.dataset
    dataset_cfg.data_root = str(root / 'data' / 'cifar10')
    dataset = DATASETS.build(dataset_cfg)
    step = len(dataset) // num  # spread over the classes
    items = [dataset[i * step] for i in range(num)]
    pixels = torch.stack([item['inputs'] for item in items])
    return pixels, [item['data_samples'] for item in items]


@needs_cifar10_jpeg
@pytest.mark.slow
def test_folded_head_on_real_images(cifar_ace):
    root, ckpt = cifar_ace
    model, cfg = _load(ckpt)
    pixels, samples = _real_test_images(cfg, root)
    assert pixels.dtype == torch.uint8 and pixels.shape == (64, 3, 32, 32)
    with torch.no_grad():
        data = model.data_preprocessor(
            dict(inputs=list(pixels), data_samples=samples))
        feats = model.extract_feat(data['inputs'])
        expected = model.head(feats)
        got = fold_ace_head(model.head)(torch.cat(feats, dim=1))
    assert (got - expected).abs().max() <= 1e-5
    assert torch.equal(got.argmax(1), expected.argmax(1))


@needs_cifar10_jpeg
@pytest.mark.slow
def test_onnx_export_matches_pytorch_on_real_images(cifar_ace):
    ort = pytest.importorskip('onnxruntime')  # requirements/deploy.txt
    root, ckpt = cifar_ace
    out = root / 'ace.onnx'
    proc = run_tool([PYTHON, EXPORT, ACE_CIFAR, ckpt, out], cwd=root)
    log = proc.stdout
    assert 'ACE head folded: 3 LWS classifiers' in log, log
    assert 'Linear(192, 10)' in log
    assert out.is_file()

    model, cfg = _load(ckpt)
    pixels, samples = _real_test_images(cfg, root)
    with torch.no_grad():
        # The PyTorch reference is mmpretrain's own test step: data
        # preprocessor, unfolded ACE head, pred_score.
        preds = model.test_step(dict(inputs=list(pixels),
                                     data_samples=samples))
    expected = torch.stack([p.pred_score for p in preds]).numpy()

    session = ort.InferenceSession(
        str(out), providers=['CPUExecutionProvider'])
    assert [i.name for i in session.get_inputs()] == ['input']
    assert [o.name for o in session.get_outputs()] == ['scores']
    # Dynamic batch: the whole batch, then a single image.
    got = session.run(None, {'input': pixels.float().numpy()})[0]
    assert got.shape == (64, 10)
    assert abs(got - expected).max() <= 1e-4
    assert (got.argmax(1) == expected.argmax(1)).all()
    one = session.run(None, {'input': pixels[:1].float().numpy()})[0]
    assert abs(one - expected[:1]).max() <= 1e-4
    # A trained model, not a constant: the scores are far from uniform.
    assert expected.max(1).mean() > 0.2


@pytest.mark.slow
def test_export_checks_the_whole_test_set(trained_digits, tmp_path):
    # Digits-LT: a real 500-image test set, cheap enough to check in full.
    ace = trained_digits.ace
    out = run_tool([
        PYTHON, EXPORT, ace.config, ace.last, tmp_path / 'd.onnx',
        '--shape', '8', '8', '--test-set'
    ], cwd=tmp_path).stdout
    assert 'test set (500 images' in out
    assert 'folded head vs ACEHead: max |logit diff|' in out
    assert re.search(r'onnxruntime vs PyTorch: max \|score diff\| \S+, same '
                     r'top-1 500/500', out), out
