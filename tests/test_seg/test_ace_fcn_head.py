"""mmsegmentation side of mmace: ACEFCNHead, also trained from a
configs/seg config."""
import copy
import math

import mmace  # noqa: F401  (installs the ops fallback before mmseg)
import numpy as np
import pytest
import torch
from conftest import REPO, SHARED

pytest.importorskip('mmseg')

from mmengine.config import Config  # noqa: E402
from mmengine.structures import PixelData  # noqa: E402
from mmseg.models.decode_heads import FCNHead  # noqa: E402
from mmseg.structures import SegDataSample  # noqa: E402

from mmace.models.ace import aggregate_logits  # noqa: E402
from mmace.seg import ACEFCNHead  # noqa: E402

CAMVID = SHARED / 'data' / 'camvid'
needs_camvid = pytest.mark.skipif(
    not (CAMVID / 'trainannot').is_dir(),
    reason=f'CamVid not found at {CAMVID}')
SEG_CONFIGS = REPO / 'configs' / 'seg'

COUNTS = [500, 300, 100, 60, 20, 5]  # 6 classes, a long tail
HEAD = dict(in_channels=8, channels=6, num_classes=6, num_convs=2,
            concat_input=True, norm_cfg=dict(type='BN'))


def _samples(n=2, size=(20, 24), seed=0):
    g = torch.Generator().manual_seed(seed)
    samples = []
    for _ in range(n):
        label = torch.randint(0, 6, (1, ) + size, generator=g)
        label[:, :2] = 255  # a strip of ignored pixels
        sample = SegDataSample()
        sample.gt_sem_seg = PixelData(data=label)
        samples.append(sample)
    return samples


# ----------------------------------------------------------- the head --
def test_k1_equals_stock_fcn_head():
    torch.manual_seed(0)
    stock = FCNHead(**HEAD)
    stock.init_weights()
    ace = ACEFCNHead(num_experts=1, class_counts=COUNTS, **HEAD)
    keys = ace.load_state_dict(stock.state_dict(), strict=False)
    # A stock checkpoint lacks only the LWS scale (the head keeps the
    # counts of its config).
    assert set(keys.missing_keys) == {'conv_seg.scale'}
    assert not keys.unexpected_keys
    x = (torch.randn(2, 8, 5, 6), )

    stock.eval(), ace.eval()
    assert torch.equal(ace(x), stock(x))
    metas = [dict(img_shape=(20, 24))] * 2
    assert torch.equal(
        ace.predict(x, metas, None), stock.predict(x, metas, None))

    stock.train(), ace.train()
    torch.manual_seed(1)  # same dropout mask
    expected = stock.loss(x, _samples(), None)
    torch.manual_seed(1)
    got = ace.loss(x, _samples(), None)
    assert got.keys() == expected.keys() == {'loss_ce', 'acc_seg'}
    assert torch.equal(got['loss_ce'], expected['loss_ce'])


def test_expert_losses_give_zero_gradient_to_shared_parts():
    torch.manual_seed(0)
    backbone = torch.nn.Conv2d(3, 8, 3, padding=1)  # stands for the backbone
    head = ACEFCNHead(num_experts=3, class_counts=COUNTS, **HEAD)
    head.init_weights()
    losses = head.loss((backbone(torch.randn(2, 3, 5, 6)), ), _samples(),
                       None)
    assert {'loss_ce', 'loss_cls_e2', 'loss_com_e2', 'loss_cls_e3',
            'loss_com_e3'} <= losses.keys()

    named = [('backbone.' + n, p) for n, p in backbone.named_parameters()]
    named += list(head.named_parameters())
    names, params = zip(*named)
    expert2 = losses['loss_cls_e2'] + losses['loss_com_e2']
    grads = torch.autograd.grad(expert2, params, allow_unused=True,
                                retain_graph=True)
    for name, grad in zip(names, grads):
        if name.startswith('experts.0.'):  # expert 2's own parameters
            assert grad is not None and grad.abs().sum() > 0, name
        else:  # backbone, convs, expert 1 (conv_cat, conv_seg), expert 3
            assert grad is None or not grad.any(), name
    # Expert 1's loss does train the shared parts.
    grad = torch.autograd.grad(losses['loss_ce'], backbone.weight)[0]
    assert grad.abs().sum() > 0


def test_inference_is_the_eq2_eq3_aggregate():
    torch.manual_seed(0)
    head = ACEFCNHead(num_experts=3, class_counts=COUNTS, **HEAD).eval()
    assert head.aggregation == 'gated'  # the default, see its docstring
    head.aggregation = 'avg'
    for expert in head.experts:  # make the experts differ in strength
        expert.conv_seg.scale.data.uniform_(0.5, 2)
    x = (torch.randn(1, 8, 5, 6), )
    logits = head.expert_logits(x)
    weights = [head.conv_seg.effective_weight] + [
        e.conv_seg.effective_weight for e in head.experts]
    norms = torch.stack([
        (w.flatten(1).pow(2).sum(1) * m).sum().sqrt()
        for w, m in zip(weights, head.target_masks)])
    expected = aggregate_logits(logits, head.target_masks, norms / norms[0])
    torch.testing.assert_close(head(x), expected)
    head.aggregation = 'gated'
    torch.testing.assert_close(
        head(x), aggregate_logits(logits, head.target_masks, norms / norms[0],
                                  aggregation='gated'))
    shares = head.expert_shares()
    assert shares[0] == 1 and bool((shares[1:] < 1).all())


def test_readout_expert_predicts_with_one_expert_and_its_classes():
    torch.manual_seed(0)
    head = ACEFCNHead(num_experts=3, class_counts=COUNTS, **HEAD).eval()
    x = (torch.randn(1, 8, 5, 6), )
    logits = head.expert_logits(x)
    for i in (1, 2, 3):
        head.readout_expert = i
        out = head(x)
        mask = head.target_masks[i - 1]
        torch.testing.assert_close(out[:, mask], logits[i - 1][:, mask])
        assert bool(mask[out.argmax(dim=1)].all())  # only its classes
    with pytest.raises(ValueError, match='readout_expert=4'):
        ACEFCNHead(num_experts=3, class_counts=COUNTS, readout_expert=4,
                   **HEAD)


def test_class_count_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match=r'class_counts has 3 classes.*'
                       r'num_classes=6'):
        ACEFCNHead(num_experts=2, class_counts=[5, 3, 1], **HEAD)


def test_more_experts_than_classes_is_a_clear_error():
    with pytest.raises(ValueError, match='num_experts=7'):
        ACEFCNHead(num_experts=7, class_counts=COUNTS, **HEAD)


def test_auto_counts_unset_is_a_clear_error():
    head = ACEFCNHead(num_experts=2, **HEAD)  # class_counts='auto'
    with pytest.raises(RuntimeError, match='LongTailRunner'):
        head((torch.randn(1, 8, 5, 6), ))


@needs_camvid
@pytest.mark.slow
def test_mmseg_training_loop_on_camvid(tmp_path, monkeypatch):
    from mmpretrain.registry import RUNNERS
    monkeypatch.setenv('MMACE_CACHE_DIR', str(tmp_path / 'cache'))
    cfg = Config.fromfile(SEG_CONFIGS / 'ace_fcn_r18-d8_camvid_cpu.py')
    small = (96, 128)
    cfg.model.data_preprocessor.size = small
    for split in ('train', 'val'):
        loader = cfg[f'{split}_dataloader']
        loader.dataset.data_root = str(CAMVID)
        loader.dataset.indices = 4
        loader.batch_size = 2
    pipeline = cfg.train_dataloader.dataset.pipeline
    pipeline[2] = dict(type='Resize', scale=(160, 120), keep_ratio=True)
    pipeline[3].crop_size = small
    cfg.val_dataloader.dataset.pipeline[1].scale = (160, 120)
    cfg.train_cfg.max_iters = 3
    cfg.train_cfg.val_interval = 3
    cfg.default_hooks.logger.interval = 1
    # The dense heads also train and predict in channels_last (issue 10).
    cfg.custom_hooks = list(cfg.get('custom_hooks', [])) + [
        dict(type='ChannelsLastHook')]
    cfg.work_dir = str(tmp_path / 'work')
    runner = RUNNERS.build(cfg)
    runner.train()
    assert [h.__name__ for h in
            runner.model.backbone._forward_pre_hooks.values()] == [
                '_to_channels_last']

    head = runner.model.decode_head
    assert isinstance(head, ACEFCNHead) and head.num_experts == 3
    hub = runner.message_hub
    names = [k for k in hub.log_scalars if 'loss' in k]
    assert 'train/decode.loss_cls_e3' in names
    for name in names:
        assert np.isfinite(hub.get_scalar(name).current()), name
    assert 'val/mIoU_frequent' in hub.log_scalars

    runner.model.eval()
    batch = next(iter(runner.val_dataloader))
    with torch.no_grad():
        out = runner.model.test_step(copy.deepcopy(batch))
    for sample in out:
        h, w = sample.ori_shape
        assert (h, w) == (360, 480)
        pred = sample.pred_sem_seg.data
        assert pred.shape == (1, h, w)
        assert int(pred.min()) >= 0 and int(pred.max()) < 11


def test_released_code_options_in_the_fcn_head():
    """The options ACEHead shares mean the same in the seg head."""
    from mmace.models.ace import rescale_factors
    from mmace.models.losses import ComplementLoss
    from mmseg.models.utils import resize
    torch.manual_seed(0)
    head = ACEFCNHead(num_experts=3, class_counts=COUNTS, planner='share',
                      share_thresholds=[0.3, 0.05],
                      loss_ace=dict(complement=dict(form='norm')),
                      rescale_inverse=True, norm_weight='raw',
                      norm_reduce='mean', expert1_loss='ace', **HEAD)
    head.init_weights()
    # Counts 500, 300, 100, 60, 20, 5 (985): shares of ranks j.. are 1,
    # .49, .19, .09, .03, .005; the last ranks above 0.3 / 0.05 are 1 / 3.
    assert head.target_masks.sum(dim=1).tolist() == [6, 5, 3]
    with torch.no_grad():
        head.experts[1].conv_seg.scale.mul_(3)
    raw = torch.stack([head.conv_seg.weight] +
                      [e.conv_seg.weight for e in head.experts])
    assert torch.allclose(
        head.rescale_factors(),
        rescale_factors(raw, head.target_masks, rescale='plain',
                        norm_reduce='mean', rescale_inverse=True))
    # The per-pixel complement term is the norm form.
    head.eval()  # no dropout: loss and expert_logits see the same logits
    inputs = (torch.randn(2, 8, 5, 6), )
    samples = _samples()
    losses = head.loss(inputs, samples, None)
    label = torch.stack([s.gt_sem_seg.data for s in samples]).squeeze(1)
    up = resize(head.expert_logits(inputs)[1], size=label.shape[1:],
                mode='bilinear', align_corners=head.align_corners)
    # Expert 2's sub-batch: the non-ignored pixels of its target classes.
    rows = up.movedim(1, -1).reshape(1, -1, up.size(1))
    flat = label.reshape(-1)
    member = (head.target_masks[1][flat.clamp(max=5)]
              & (flat != head.ignore_index)).float()[None]
    ref = ComplementLoss(form='norm')(rows, member, head.target_masks[1:2])
    assert torch.allclose(losses['loss_com_e2'], ref[0], rtol=1e-4)


def test_expert_losses_by_hand_on_2x3_pixels():
    """Which pixels train which expert, and the loss values, by hand.

    Counts 500, 300, 100, 60, 20, 5 and K = 3: expert 2 targets classes
    2-5, expert 3 classes 4 and 5. Labels [[0, 2, 4], [5, 255, 1]]: expert 2
    trains on the pixels labelled 2, 4, 5, expert 3 on those labelled 4 and
    5; 255 is ignored.
    """
    head = ACEFCNHead(num_experts=3, class_counts=COUNTS, **HEAD)
    assert head.target_masks.long().tolist() == [
        [1, 1, 1, 1, 1, 1], [0, 0, 1, 1, 1, 1], [0, 0, 0, 0, 1, 1]]
    sample = SegDataSample()
    sample.gt_sem_seg = PixelData(data=torch.tensor([[[0, 2, 4], [5, 255,
                                                                  1]]]))
    z1 = torch.zeros(1, 6, 2, 3)
    z2 = torch.zeros(1, 6, 2, 3)
    z2[:, 0], z2[:, 1] = 1., 2.  # expert 2's interfering classes 0, 1
    z3 = torch.zeros(1, 6, 2, 3)
    z3[:, :4] = 0.5  # expert 3's interfering classes 0-3
    # Pixels outside the sub-batches: large logits that must not count.
    z2[0, 2, 0, 0] = z2[0, 3, 1, 2] = z3[0, 5, 0, 1] = 50.
    losses = head.loss_by_feat([z1, z2, z3], [sample])
    e = math.e
    # Expert 2 on 3 pixels: logits [1, 2, 0, 0, 0, 0], label logit 0.
    assert losses['loss_cls_e2'].item() == pytest.approx(
        math.log(e + e**2 + 4))
    assert losses['loss_com_e2'].item() == pytest.approx(1. + 4.)
    # Expert 3 on 2 pixels: logits [.5, .5, .5, .5, 0, 0].
    assert losses['loss_cls_e3'].item() == pytest.approx(
        math.log(4 * e**0.5 + 2))
    assert losses['loss_com_e3'].item() == pytest.approx(4 * 0.25)
    # Expert 1 trains as the stock head: mmseg's CE, no ACE terms.
    assert 'loss_ce' in losses and 'loss_cls_e1' not in losses


def test_logit_adjust_tau_needs_expert1_trained_by_the_ace_loss():
    """With expert1_loss='decode' expert 1 never meets ACELoss: the
    adjustment is refused when built; with 'ace' it adjusts expert 1."""
    with pytest.raises(ValueError, match=r"loss_ace.logit_adjust_tau=1.0 .*"
                       r"expert 1 trains with loss_decode"):
        ACEFCNHead(num_experts=3, class_counts=COUNTS,
                   loss_ace=dict(logit_adjust_tau=1.0), **HEAD)
    torch.manual_seed(0)
    adjusted = ACEFCNHead(num_experts=3, class_counts=COUNTS,
                          expert1_loss='ace',
                          loss_ace=dict(logit_adjust_tau=1.0), **HEAD)
    plain = ACEFCNHead(num_experts=3, class_counts=COUNTS,
                       expert1_loss='ace', **HEAD)
    plain.load_state_dict(adjusted.state_dict())
    adjusted.eval()
    plain.eval()
    inputs = (torch.randn(2, 8, 5, 6), )
    a = adjusted.loss(inputs, _samples(), None)
    b = plain.loss(inputs, _samples(), None)
    assert not torch.allclose(a['loss_cls_e1'], b['loss_cls_e1'])
    assert torch.allclose(a['loss_cls_e2'], b['loss_cls_e2'])
