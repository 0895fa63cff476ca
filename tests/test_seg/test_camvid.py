"""CamVidDataset: void (11) becomes ignore_index; pixel counts."""
import mmace  # noqa: F401  (installs the ops fallback before mmseg)
import numpy as np
import pytest
from conftest import SHARED
from PIL import Image

pytest.importorskip('mmseg')

from mmengine.registry import init_default_scope  # noqa: E402

from mmace.seg import CamVidDataset  # noqa: E402

CAMVID = SHARED / 'data' / 'camvid'
needs_camvid = pytest.mark.skipif(
    not (CAMVID / 'trainannot').is_dir(),
    reason=f'CamVid not found at {CAMVID}')


@needs_camvid
def test_camvid_void_becomes_ignore_index():
    init_default_scope('mmseg')
    ds = CamVidDataset(
        data_root=str(CAMVID),
        pipeline=[dict(type='LoadImageFromFile'),
                  dict(type='LoadAnnotations')])
    assert len(ds) == 367 and len(ds.metainfo['classes']) == 11
    item = ds[0]
    raw = np.array(Image.open(item['seg_map_path']))
    assert (raw == 11).any()
    gt = item['gt_seg_map']
    assert np.array_equal(gt == 255, raw == 11)
    assert np.array_equal(gt[raw != 11], raw[raw != 11])
    assert item['img'].shape == (360, 480, 3)


@needs_camvid
def test_camvid_pixel_counts_match_numpy(tmp_path, monkeypatch):
    from mmace.datasets import get_class_counts
    monkeypatch.setenv('MMACE_CACHE_DIR', str(tmp_path))
    ds = CamVidDataset(data_root=str(CAMVID), indices=[0, 1, 2])
    by_hand = np.zeros(11, dtype=np.int64)
    for info in ds:  # no pipeline: the data infos
        raw = np.array(Image.open(info['seg_map_path'])).ravel()
        by_hand += np.bincount(raw[raw != 11], minlength=11)
    assert by_hand.sum() > 0
    np.testing.assert_array_equal(get_class_counts(ds), by_hand)
