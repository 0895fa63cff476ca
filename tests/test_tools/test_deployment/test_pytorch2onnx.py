"""Folded ACE head and ONNX export (tools/deployment/pytorch2onnx.py)."""
import json
import re

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint
from mmpretrain.registry import DATASETS, MODELS

import mmace  # noqa: F401  (registers the modules)
from mmace.models.heads import ACEHead
from mmace.models.utils.fold import fold_ace_head

from conftest import (CIFAR10_JPEG, PYTHON, REPO, needs_cifar10_jpeg,
                      run_tool)

ACE_CIFAR = REPO / 'configs/ace/ace_r32_cifar10-lt-100.py'
EXPORT = REPO / 'tools/deployment/pytorch2onnx.py'
# 10 classes, not sorted by index, 3 experts.
COUNTS = [50, 30, 90, 10, 10, 70, 20, 20, 80, 40]


def _trained_like_head(**kwargs):
    """An ACE head whose LWS scales, biases and norms all differ."""
    torch.manual_seed(0)
    head = ACEHead(num_classes=10, in_channels=16, class_counts=COUNTS,
                   **kwargs)
    with torch.no_grad():
        for i, clf in enumerate(head.classifiers):
            clf.weight.normal_(std=0.1 * (i + 1))
            clf.bias.normal_(std=0.5)
            clf.scale.uniform_(0.5, 2.0)
    return head.eval()


def _feats(n=32, k=3, d=16):
    return tuple(torch.randn(n, d) for _ in range(k))


@pytest.mark.parametrize('aggregation', ['avg', 'concat'])
@pytest.mark.parametrize('rescale', ['squared', 'plain', None])
@pytest.mark.parametrize('scale_bias', [False, True])
def test_folded_head_equals_head(aggregation, rescale, scale_bias):
    head = _trained_like_head(aggregation=aggregation, rescale=rescale,
                              scale_bias=scale_bias)
    feats = _feats()
    fc = fold_ace_head(head)
    assert isinstance(fc, nn.Linear)
    assert (fc.in_features, fc.out_features) == (3 * 16, 10)
    with torch.no_grad():
        expected = head(feats)
        got = fc(torch.cat(feats, dim=1))
    assert (got - expected).abs().max() <= 1e-5
    # Not trivially equal: the experts do disagree.
    assert expected.abs().max() > 1


def test_fold_follows_the_eq2_factors():
    # Doubling expert 2's scales changes its Eq. 2 factor, and the folded
    # layer must follow: a fold is a snapshot of the current weights.
    head = _trained_like_head()
    before = fold_ace_head(head).weight.clone()
    with torch.no_grad():
        head.classifiers[1].scale.mul_(2)
    after = fold_ace_head(head)
    feats = _feats()
    with torch.no_grad():
        assert (after(torch.cat(feats, 1)) - head(feats)).abs().max() <= 1e-5
    assert not torch.allclose(before, after.weight)


def test_fold_refuses_max_aggregation():
    with pytest.raises(ValueError, match="'max' .*not linear|cannot be "
                       'folded'):
        fold_ace_head(_trained_like_head(aggregation='max'))


def test_fold_needs_class_counts():
    with pytest.raises(RuntimeError, match='class counts'):
        fold_ace_head(ACEHead(num_classes=10, in_channels=16,
                              class_counts=None))


# ------------------------------------------------------ real CIFAR-10
@pytest.fixture(scope='module')
def cifar_ace(tmp_path_factory):
    """An ACE ResNet-32 trained 1 epoch on 953 real CIFAR-10-LT images."""
    root = tmp_path_factory.mktemp('deploy')
    (root / 'data').mkdir()
    (root / 'data' / 'cifar10').symlink_to(CIFAR10_JPEG)
    work = root / 'work'
    run_tool([
        PYTHON, REPO / 'tools/train.py', ACE_CIFAR, '--work-dir', work,
        '--cfg-options', 'train_cfg.max_epochs=1',
        'train_cfg.val_interval=100', 'param_scheduler.0.end=1',
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
def test_benchmark_times_the_folded_head(tmp_path):
    out = tmp_path / 'bench.json'
    proc = run_tool([
        PYTHON, REPO / '.dev_scripts/benchmark/benchmark_ace.py', '--iters',
        '2', '--warmup', '1', '--batch-size', '8', '--device', 'cpu',
        '--folded', '--json', out
    ], cwd=tmp_path, timeout=300)
    assert 'folded ACE head (--folded)' in proc.stdout
    assert 'head only (pooled features)' in proc.stdout
    res = json.loads(out.read_text())['folded']
    assert res['max_abs_diff'] <= 1e-5
    for part in ('head', 'model'):
        assert res[part]['unfolded_median'] > 0
        assert res[part]['folded_median'] > 0


# ------------------------------------------------------ switch_to_deploy
def test_switch_to_deploy_scores_with_the_folded_layer():
    head = _trained_like_head()
    feats = _feats()
    with torch.no_grad():
        logits = head(feats)
        before = head.predict(feats)
    head.switch_to_deploy()
    assert isinstance(head.deploy_fc, nn.Linear)
    # forward and predict now go through the one Linear...
    calls = []
    head.deploy_fc.register_forward_hook(lambda *a: calls.append(1))
    with torch.no_grad():
        assert (head(feats) - logits).abs().max() <= 1e-5
        after = head.predict(feats)
    assert len(calls) == 2
    for a, b in zip(before, after):
        assert (a.pred_score - b.pred_score).abs().max() <= 1e-6
        assert a.pred_label == b.pred_label
    # ...not through the K classifiers.
    head.classifiers = None
    with torch.no_grad():
        head(feats)


def test_switch_to_deploy_keeps_expert_scores_when_asked():
    head = _trained_like_head(return_expert_scores=True)
    feats = _feats(n=4)
    with torch.no_grad():
        before = head.predict(feats)
        head.switch_to_deploy()
        after = head.predict(feats)
    for a, b in zip(before, after):
        assert torch.allclose(a.expert_scores, b.expert_scores)


def test_switch_to_deploy_refuses_max():
    with pytest.raises(ValueError, match='cannot be folded'):
        _trained_like_head(aggregation='max').switch_to_deploy()


@pytest.mark.slow
def test_export_checks_the_whole_test_set(tmp_path):
    # Digits-LT: a real 500-image test set, cheap enough to check in full.
    config = REPO / 'configs/quickstart/ace_r32_digits-lt.py'
    work = tmp_path / 'work'
    run_tool([PYTHON, REPO / 'tools/train.py', config, '--work-dir', work,
              '--cfg-options', 'train_cfg.max_epochs=1',
              'train_cfg.val_interval=100'], cwd=tmp_path)
    out = run_tool([
        PYTHON, EXPORT, config, work / 'epoch_1.pth', tmp_path / 'd.onnx',
        '--shape', '8', '8', '--test-set'
    ], cwd=tmp_path).stdout
    assert 'test set (500 images' in out
    assert 'folded head vs ACEHead: max |logit diff|' in out
    assert re.search(r'onnxruntime vs PyTorch: max \|score diff\| \S+, same '
                     r'top-1 500/500', out), out
