"""mmdet and mmseg import and run where mmcv has no compiled ops.

mmace backs mmcv's ``nms`` and ``RoIAlign`` with torchvision's kernels when
``mmcv._ext`` is missing (mmcv-lite), warns once, and refuses every other
compiled op with an error that names it.
"""
import subprocess
import sys

import pytest
import torch
import torchvision

import mmace  # noqa: F401  (installs the fallback)
from mmace.utils import MissingCompiledOpError, has_compiled_ops
from mmace.utils import ops_fallback

pytestmark = pytest.mark.skipif(
    has_compiled_ops(), reason='full mmcv: its own compiled ops are used')


@pytest.mark.parametrize('first', ['', 'import mmpretrain.models; '])
@pytest.mark.slow
def test_import_mmace_with_mmdet_and_mmseg_installed(first):
    # A fresh interpreter, as a user's: mmpretrain imports mmdet while
    # mmace is imported, then the two frameworks' model packages import,
    # also when mmpretrain's models were imported before mmace.
    code = (first + 'import mmace, mmdet, mmseg, mmdet.models, mmseg.models; '
            'from mmdet.registry import MODELS; '
            "print(mmdet.__version__, mmseg.__version__, "
            "MODELS.get('ACEShared2FCBBoxHead') is not None)")
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ['3.3.0', '1.2.2', 'True']


def test_nms_is_torchvision_nms():
    from mmcv.ops import batched_nms, nms
    g = torch.Generator().manual_seed(0)
    xy = torch.rand(200, 2, generator=g) * 100
    boxes = torch.cat([xy, xy + 5 + torch.rand(200, 2, generator=g) * 30],
                      dim=1)
    scores = torch.rand(200, generator=g)
    dets, keep = nms(boxes, scores, iou_threshold=0.5)
    expected = torchvision.ops.nms(boxes, scores, 0.5)
    assert torch.equal(keep, expected)
    assert torch.equal(dets[:, 4], scores[expected])

    idxs = torch.randint(0, 5, (200, ), generator=g)
    _, keep = batched_nms(boxes, scores, idxs,
                          dict(type='nms', iou_threshold=0.5))
    expected = torchvision.ops.batched_nms(boxes, scores, idxs, 0.5)
    assert torch.equal(keep, expected)


def test_legacy_offset_nms_is_refused():
    from mmcv.ops import nms
    boxes = torch.tensor([[0., 0., 10., 10.]])
    with pytest.raises(MissingCompiledOpError, match='offset=1'):
        nms(boxes, torch.ones(1), 0.5, offset=1)


def test_roi_align_runs_torchvision_with_gradients():
    from mmcv.ops import RoIAlign
    layer = RoIAlign(output_size=7, spatial_scale=0.25, sampling_ratio=2)
    assert layer.use_torchvision
    x = torch.randn(2, 3, 16, 16, requires_grad=True)
    rois = torch.tensor([[0., 4., 4., 40., 30.], [1., 0., 0., 63., 63.]])
    out = layer(x, rois)
    expected = torchvision.ops.roi_align(
        x, rois, 7, spatial_scale=0.25, sampling_ratio=2, aligned=True)
    assert torch.equal(out, expected)
    out.sum().backward()
    assert x.grad.abs().sum() > 0

    with pytest.raises(MissingCompiledOpError, match="pool_mode='max'"):
        RoIAlign(output_size=7, pool_mode='max')


def test_other_compiled_ops_raise_a_clear_error():
    from mmcv.ops import sigmoid_focal_loss
    with pytest.raises(MissingCompiledOpError) as info:
        sigmoid_focal_loss(torch.randn(4, 3), torch.tensor([0, 1, 2, 0]))
    message = str(info.value)
    assert "'sigmoid_focal_loss_forward'" in message
    assert 'mim install "mmcv==2.1.0"' in message


def test_one_warning_names_the_fallback(monkeypatch):
    from mmcv.ops import RoIAlign, nms
    logged = []
    monkeypatch.setattr(ops_fallback, '_warned', False)
    monkeypatch.setattr(ops_fallback, 'print_log',
                        lambda msg, **kwargs: logged.append(msg))
    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.]])
    nms(boxes, torch.tensor([0.9, 0.8]), 0.5)
    nms(boxes, torch.tensor([0.9, 0.8]), 0.5)
    RoIAlign(output_size=7)
    assert len(logged) == 1
    assert 'torchvision.ops.nms' in logged[0]
    assert 'torchvision.ops.roi_align' in logged[0]


def test_mmengine_still_sees_no_full_mmcv():
    from mmengine.utils.dl_utils import mmcv_full_available
    assert not mmcv_full_available()
