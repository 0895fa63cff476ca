"""mmdet side of ACE: the ACE bbox heads, trained from a configs/det config.

Specification in brief (LongTailCocoMetric: test_long_tail_coco_metric.py;
instances per class: tests/test_datasets/test_class_counts.py):

- ``ACEShared2FCBBoxHead`` with one expert *is* mmdet's Shared2FCBBoxHead
  (same weights: identical losses and identical detections);
- experts 2..K learn only from their own losses (exactly zero gradient to the
  shared layers and the RoI features);
- the ACE score rule: background from expert 1, foreground re-ranked by the
  Eq. 2/3 aggregate, a probability vector mmdet's post-processing consumes;
- a real mmdet training loop from a configs/det CPU config;
- clear errors for bad class counts / too many experts.
"""
import copy
import math

import pytest
import torch

import mmace  # noqa: F401  (ops fallback before mmdet.models)
from conftest import REPO, SHARED

mmdet = pytest.importorskip('mmdet')
import mmace.det  # noqa: E402,F401  (registers the heads)
from mmengine.config import Config  # noqa: E402
from mmengine.registry import DefaultScope  # noqa: E402
from mmdet.registry import MODELS, RUNNERS  # noqa: E402

COCO_LT = SHARED / 'data' / 'coco-lt-mini'
needs_coco_lt = pytest.mark.skipif(
    not (COCO_LT / 'annotations' / 'instances_train.json').is_file(),
    reason=f'coco-lt-mini not found at {COCO_LT}')
CPU_CFG = REPO / 'configs' / 'det' / 'faster-rcnn_r18_fpn_coco-lt-mini_cpu.py'
ACE_CPU_CFG = REPO / 'configs' / 'det' / \
    'ace_faster-rcnn_r18_fpn_coco-lt-mini_cpu.py'
C = 5  # foreground classes of the small heads
COUNTS = [50, 20, 10, 5, 1]


def small_head(type='ACEShared2FCBBoxHead', **kwargs):
    cfg = dict(type=type, in_channels=4, fc_out_channels=16, roi_feat_size=3,
               num_classes=C)
    cfg.update(kwargs)
    with DefaultScope.overwrite_default_scope('mmdet'):
        head = MODELS.build(cfg)
    head.init_weights()
    return head


def targets(num_rois=12):
    """RoI labels covering every class and background, unit weights."""
    labels = torch.arange(num_rois) % (C + 1)  # C is background
    return (labels, torch.ones(num_rois), torch.randn(num_rois, 4),
            torch.ones(num_rois, 4))


# ----------------------------------------------------------------- head
def test_one_expert_is_the_stock_head():
    stock = small_head('Shared2FCBBoxHead')
    ace = small_head(num_experts=1)
    # A stock checkpoint has no class counts: it loads strictly and the
    # head keeps the counts of its config.
    ace.load_state_dict(stock.state_dict(), strict=True)
    assert len(ace.experts) == 0
    x = torch.randn(12, 4, 3, 3)
    rois = torch.cat([torch.zeros(12, 1), torch.rand(12, 2) * 50,
                      50 + torch.rand(12, 2) * 50], dim=1)
    for mode in (True, False):
        stock.train(mode)
        ace.train(mode)
        out_s, out_a = stock(x), ace(x)
        assert all(torch.equal(s, a) for s, a in zip(out_s, out_a))
    stock.train()
    ace.train()
    out_s, out_a = stock(x), ace(x)
    t = targets()
    loss_s = stock.loss(*out_s, rois, *t)
    loss_a = ace.loss(*out_a, rois, *t)
    assert loss_s.keys() == loss_a.keys()
    assert all(torch.equal(loss_s[k], loss_a[k]) for k in loss_s)
    test_cfg = Config(dict(score_thr=0.01, nms=dict(type='nms',
                                                   iou_threshold=0.5),
                           max_per_img=100))
    metas = [dict(img_shape=(100, 100))]
    stock.eval()
    ace.eval()
    out_s, out_a = stock(x), ace(x)
    det_s = stock.predict_by_feat((rois, ), (out_s[0], ), (out_s[1], ),
                                  metas, test_cfg)[0]
    det_a = ace.predict_by_feat((rois, ), (out_a[0], ), (out_a[1], ), metas,
                                test_cfg)[0]
    for key in ('bboxes', 'scores', 'labels'):
        assert torch.equal(det_s[key], det_a[key])


@needs_coco_lt
def test_one_expert_detector_equals_the_stock_detector():
    """Whole Faster R-CNN, same weights: identical losses and detections."""
    cfg = Config.fromfile(CPU_CFG)
    stock_cfg = copy.deepcopy(cfg.model)
    ace_cfg = copy.deepcopy(cfg.model)
    ace_cfg.roi_head.bbox_head.update(type='ACEShared2FCBBoxHead',
                                      num_experts=1, class_counts=None)
    with DefaultScope.overwrite_default_scope('mmdet'):
        stock = MODELS.build(stock_cfg)
        ace = MODELS.build(ace_cfg)
    stock.init_weights()
    ace.load_state_dict(stock.state_dict(), strict=False)
    data = dict(inputs=[torch.randint(0, 255, (3, 96, 128),
                                      dtype=torch.uint8)],
                data_samples=[_sample()])
    losses = []
    for model in (stock, ace):
        model.train()
        batch = model.data_preprocessor(copy.deepcopy(data), True)
        torch.manual_seed(0)  # the RoI sampler draws at random
        losses.append(model(**batch, mode='loss'))
    assert losses[0].keys() == losses[1].keys()
    for key in losses[0]:
        assert all(torch.equal(a, b) for a, b in zip(
            _as_list(losses[0][key]), _as_list(losses[1][key]))), key
    preds = []
    for model in (stock, ace):
        model.eval()
        model.test_cfg.rcnn.score_thr = 0.0
        batch = model.data_preprocessor(copy.deepcopy(data), False)
        with torch.no_grad():
            preds.append(model(**batch, mode='predict')[0].pred_instances)
    assert len(preds[0]) > 0
    for key in ('bboxes', 'scores', 'labels'):
        assert torch.equal(preds[0][key], preds[1][key])


def _as_list(x):
    return x if isinstance(x, (list, tuple)) else [x]


def _sample():
    from mmengine.structures import InstanceData

    from mmdet.structures import DetDataSample
    sample = DetDataSample(metainfo=dict(
        img_shape=(96, 128), ori_shape=(96, 128), pad_shape=(96, 128),
        scale_factor=(1., 1.), batch_input_shape=(96, 128)))
    sample.gt_instances = InstanceData(
        bboxes=torch.tensor([[10., 10., 60., 50.], [70., 20., 120., 90.]]),
        labels=torch.tensor([0, 3]))
    return sample


def test_expert_losses_do_not_reach_the_shared_layers():
    head = small_head(num_experts=3, class_counts=COUNTS)
    head.train()
    x = torch.randn(12, 4, 3, 3, requires_grad=True)
    cls_score, bbox_pred = head(x)
    losses = head.loss(cls_score, bbox_pred, None, *targets())
    assert {'loss_cls', 'loss_cls_e2', 'loss_com_e2', 'loss_cls_e3',
            'loss_com_e3'} <= losses.keys()
    # Expert 2 (experts[0]) copies fc7 (shared_fcs[1]) and reads fc6's
    # output: its loss must not touch fc6, fc7, fc_cls, fc_reg or the RoI
    # features (hence the backbone), nor expert 3.
    expert2 = losses['loss_cls_e2'] + losses['loss_com_e2']
    shared = [x] + list(head.shared_fcs.parameters()) + \
        list(head.fc_cls.parameters()) + list(head.fc_reg.parameters()) + \
        list(head.experts[1].parameters())
    own = list(head.experts[0].parameters())
    grads = torch.autograd.grad(expert2, shared + own, allow_unused=True,
                                retain_graph=True)
    for g in grads[:len(shared)]:
        assert g is None or not g.any()
    assert all(g is not None and g.abs().sum() > 0
               for g in grads[len(shared):])
    # ... while expert 1's stock loss reaches the RoI features.
    assert torch.autograd.grad(losses['loss_cls'], x)[0].abs().sum() > 0


def test_ace_scores_follow_the_documented_rule():
    head = small_head(num_experts=3, class_counts=COUNTS)
    for expert in head.experts:  # make the experts disagree with expert 1
        torch.nn.init.normal_(expert.fc_cls.weight, std=1.)
        torch.nn.init.uniform_(expert.fc_cls.scale, 0.5, 2.)
    x = torch.randn(7, 4, 3, 3)
    head.train()
    raw, _ = head(x)
    z1, expert_logits = head.split_cls_score(raw)
    head.eval()
    log_p, _ = head(x)
    # By hand: p_bg from expert 1, foreground = (1 - p_bg) * softmax(o),
    # o = Eq. 3 average over the targeting experts of f_i * z_i (Eq. 2).
    w = [head.fc_cls.weight[:C]] + [e.fc_cls.scale[:, None] *
                                    e.fc_cls.weight for e in head.experts]
    masks = head.target_masks
    norms = torch.stack([(wi.pow(2).sum(1) * m).sum().sqrt()
                         for wi, m in zip(w, masks)])
    f = norms / norms[0]
    z = torch.stack([z1[:, :C]] + expert_logits) * f[:, None, None]
    o = (z * masks[:, None]).sum(0) / masks.sum(0)
    p_bg = z1.softmax(1)[:, C:]
    expected = torch.cat([(1 - p_bg) * o.softmax(1), p_bg], dim=1)
    probs = log_p.softmax(1)  # what mmdet's predict_by_feat computes
    torch.testing.assert_close(probs, expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(probs.sum(1), torch.ones(7))
    # A training-mode score reaching predict_by_feat is converted the same.
    torch.testing.assert_close(head._to_log_scores(raw), log_p)
    assert head.expert_shares().tolist() == pytest.approx(
        [1., 36 / 86, 6 / 86])


def test_bad_class_counts_and_too_many_experts_fail_clearly():
    with pytest.raises(ValueError, match=r'4 classes.*num_classes=5'):
        small_head(num_experts=2, class_counts=[3, 2, 1, 1])
    with pytest.raises(ValueError, match=r'num_experts=6.*num_classes=5'):
        small_head(num_experts=6, class_counts=COUNTS)
    head = small_head(num_experts=2)  # 'auto' never filled
    with pytest.raises(RuntimeError, match='class counts were never'):
        head(torch.randn(2, 4, 3, 3))


# ---------------------------------------------------------------- runner
@needs_coco_lt
@pytest.mark.slow
def test_mmdet_runner_trains_ace_faster_rcnn_from_a_config(tmp_path):
    cfg = Config.fromfile(ACE_CPU_CFG)
    for loader, indices in ((cfg.train_dataloader, 4),
                            (cfg.val_dataloader, 2)):
        loader.dataset.data_root = str(COCO_LT)
        loader.dataset.indices = indices
        for t in loader.dataset.pipeline:
            if t['type'] == 'Resize':
                t['scale'] = (160, 160)
    cfg.test_dataloader = cfg.val_dataloader
    cfg.work_dir = str(tmp_path)
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=3,
                         val_interval=3)
    cfg.param_scheduler = []
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=100)
    # The dense heads also train and predict in channels_last (issue 10).
    cfg.custom_hooks = list(cfg.get('custom_hooks', [])) + [
        dict(type='ChannelsLastHook')]
    cfg.log_processor = dict(window_size=1, by_epoch=False)
    cfg.model.test_cfg.rcnn.score_thr = 0.0  # an untrained head scores low
    runner = RUNNERS.build(cfg)  # runner_type='LongTailRunner'
    head = runner.model.roi_head.bbox_head
    assert head.class_counts.sum() > 0  # class_counts='auto' was filled
    runner.train()
    scalars = runner.message_hub.log_scalars
    assert [h.__name__ for h in
            runner.model.backbone._forward_pre_hooks.values()] == [
                '_to_channels_last']
    for key in ('loss', 'loss_cls', 'loss_bbox', 'loss_cls_e2',
                'loss_com_e2', 'loss_cls_e3', 'loss_com_e3'):
        assert math.isfinite(scalars[f'train/{key}'].current()), key
    # The val loop ran LongTailCocoMetric (score_thr=0: there are boxes).
    assert {'val/coco/bbox_mAP', 'val/coco/bbox_mAP_r', 'val/coco/bbox_mAP_c',
            'val/coco/bbox_mAP_f'} <= scalars.keys()

    model = runner.model.eval()
    data = next(iter(runner.val_dataloader))
    with torch.no_grad():
        results = model.test_step(data)
    for result in results:
        pred = result.pred_instances
        h, w = result.ori_shape
        assert len(pred) > 0
        b = pred.bboxes
        assert (b[:, 0] >= 0).all() and (b[:, 1] >= 0).all()
        assert (b[:, 2] <= w).all() and (b[:, 3] <= h).all()
        assert (pred.labels < 80).all()


def test_released_code_options_in_the_bbox_head():
    """planner / share_thresholds, loss_ace's complement form,
    rescale_inverse and norm_weight mean what they mean in ACEHead."""
    from mmace.models.ace import rescale_factors
    options = dict(planner='share', share_thresholds=[0.3, 0.1],
                   rescale_inverse=True, norm_weight='raw',
                   norm_reduce='mean')
    torch.manual_seed(0)
    head = small_head(num_experts=3, class_counts=COUNTS, **options)
    # Counts 50, 20, 10, 5, 1: shares of ranks j.. are 1, .42, .19, .07,
    # .01; the last ranks above 0.3 and 0.1 are 1 and 2.
    assert head.target_masks.sum(dim=1).tolist() == [5, 4, 3]
    with torch.no_grad():
        head.experts[0].fc_cls.scale.mul_(3)  # 'raw' ignores the LWS scale
    raw = torch.stack([head.fc_cls.weight[:C]] +
                      [e.fc_cls.weight for e in head.experts])
    assert torch.allclose(
        head.rescale_factors(),
        rescale_factors(raw, head.target_masks, rescale='plain',
                        norm_reduce='mean', rescale_inverse=True))
    losses = {}
    for form in ('squared', 'norm'):
        torch.manual_seed(0)
        h = small_head(num_experts=3, class_counts=COUNTS,
                       loss_ace=dict(complement=dict(form=form)))
        h.train()
        cls_score, bbox_pred = h(torch.randn(12, 4, 3, 3))
        losses[form] = h.loss(cls_score, bbox_pred, None, *targets())
    assert torch.allclose(losses['norm']['loss_cls_e2'],
                          losses['squared']['loss_cls_e2'])
    assert not torch.allclose(losses['norm']['loss_com_e2'],
                              losses['squared']['loss_com_e2'])


def test_logit_adjust_tau_is_refused_with_the_reason():
    """Expert 1 of the detection head is the stock head (loss_cls); the
    ACE loss trains experts 2..K only, so expert 1's logit adjustment
    cannot happen there: refused when built, not ignored."""
    with pytest.raises(ValueError, match=r'loss_ace.logit_adjust_tau=1.0 '
                       r".*expert 1 of a detection head is the stock head"):
        small_head(num_experts=3, class_counts=COUNTS,
                   loss_ace=dict(logit_adjust_tau=1.0))


def test_expert_losses_by_hand_on_six_rois():
    """Which RoIs train which expert, and the loss values, by hand.

    C = 5 foreground classes with counts 50, 20, 10, 5, 1 and K = 3: the
    planner gives expert 2 classes {1, 2, 3, 4} and expert 3 {3, 4}. RoI
    labels 0, 1, 2, 3, 4 and background (5): expert 2 trains on the RoIs
    labelled 1-4, expert 3 on those labelled 3 and 4; background RoIs train
    no expert.
    """
    head = small_head(num_experts=3, class_counts=COUNTS)
    assert head.target_masks.tolist() == [
        [True] * 5, [False, True, True, True, True],
        [False, False, False, True, True]]
    labels = torch.tensor([0, 1, 2, 3, 4, C])
    _, bbox_pred = head(torch.randn(6, 4, 3, 3))
    z1 = torch.zeros(6, C + 1)
    z2 = torch.zeros(6, C)
    z2[:, 0] = 2.  # expert 2's interfering class 0
    z3 = torch.zeros(6, C)
    z3[:, :3] = 1.  # expert 3's interfering classes 0, 1, 2
    z2[0, 1] = z3[0, 3] = z3[5, 4] = 50.  # RoIs outside the sub-batches
    losses = head.loss(torch.cat([z1, z2, z3], dim=1), bbox_pred, None,
                       labels, torch.ones(6), torch.zeros(6, 4),
                       torch.zeros(6, 4))
    e = math.e
    # Expert 2 on RoIs 1-4: logits [2, 0, 0, 0, 0], the label's logit is 0.
    assert losses['loss_cls_e2'].item() == pytest.approx(math.log(e**2 + 4))
    assert losses['loss_com_e2'].item() == pytest.approx(4.)  # 2^2
    # Expert 3 on RoIs 3, 4: logits [1, 1, 1, 0, 0].
    assert losses['loss_cls_e3'].item() == pytest.approx(
        math.log(3 * e + 2))
    assert losses['loss_com_e3'].item() == pytest.approx(3.)  # 3 x 1^2


@pytest.mark.parametrize('kwargs, entry', [
    # Shared2FC: the experts copy fc7 and read fc6's output.
    (dict(type='ACEShared2FCBBoxHead'), 'shared_fcs.1'),
    # ConvFC with a cls branch: the experts copy the branch and read the
    # shared output.
    (dict(type='ACEConvFCBBoxHead', num_shared_convs=1, num_shared_fcs=1,
          num_cls_fcs=1, num_reg_fcs=1, conv_out_channels=4,
          fc_out_channels=16), 'cls_fcs.0'),
    (dict(type='ACEConvFCBBoxHead', num_shared_convs=1, num_shared_fcs=0,
          num_cls_convs=1, num_cls_fcs=1, num_reg_fcs=1, conv_out_channels=4,
          fc_out_channels=16), 'cls_convs.0'),
])
def test_experts_read_what_mmdets_forward_feeds_the_copied_layer(
        kwargs, entry):
    """The head runs mmdet's own forward; the experts get the input of the
    layer they copy (taken by a hook), whatever the branch layout."""
    torch.manual_seed(0)
    kwargs = dict(kwargs)
    head = small_head(kwargs.pop('type'), num_experts=3,
                      class_counts=COUNTS, **kwargs)
    head.train()
    assert head.expert_entry() is head.get_submodule(entry)
    seen = []
    handle = head.get_submodule(entry).register_forward_pre_hook(
        lambda m, args: seen.append(args[0].detach().clone()))
    x = torch.randn(4, 4, 3, 3)
    cls_score, _ = head(x)
    handle.remove()
    _, expert_logits = head.split_cls_score(cls_score)
    for expert, logits in zip(head.experts, expert_logits):
        assert torch.allclose(logits, expert(seen[0]))
    # The stock part is mmdet's forward, unchanged.
    stock = head.get_submodule('fc_cls')
    z1, _ = head.split_cls_score(cls_score)
    assert z1.shape == (4, stock.out_features) and not stock.weight.grad


def test_each_cascade_rcnn_stage_trains_and_predicts_with_ace_heads():
    """mmdet's CascadeRoIHead with an ACE box head in each of its 3 stages:
    every stage logs its experts' losses (finite) and inference runs."""
    import os
    from mmengine.structures import InstanceData
    from mmdet.structures import DetDataSample
    base = os.path.join(os.path.dirname(mmdet.__file__), '.mim', 'configs',
                        '_base_', 'models', 'cascade-rcnn_r50_fpn.py')
    cfg = Config.fromfile(base)
    roi = cfg.model.roi_head
    roi.bbox_roi_extractor.out_channels = 8
    for stage in roi.bbox_head:
        stage.update(type='ACEShared2FCBBoxHead', in_channels=8,
                     fc_out_channels=16, num_classes=C, num_experts=3,
                     class_counts=COUNTS)
    roi.train_cfg = cfg.model.train_cfg.rcnn
    roi.test_cfg = cfg.model.test_cfg.rcnn
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmdet'):
        head = MODELS.build(roi)
        head.init_weights()
        feats = tuple(torch.randn(1, 8, s, s) for s in (64, 32, 16, 8, 4))
        sample = DetDataSample(metainfo=dict(
            img_shape=(256, 256), pad_shape=(256, 256),
            scale_factor=(1., 1.)))
        sample.gt_instances = InstanceData(
            bboxes=torch.tensor([[10., 10., 100., 100.],
                                 [50., 60., 200., 220.]]),
            labels=torch.tensor([3, 4]))
        proposals = InstanceData(
            bboxes=torch.cat([sample.gt_instances.bboxes + 2,
                              torch.tensor([[0., 0., 60., 60.]])]),
            scores=torch.ones(3))
        losses = head.loss(feats, [proposals.clone()], [sample])
        for s in range(3):
            for key in ('loss_cls', 'loss_cls_e2', 'loss_com_e2',
                        'loss_cls_e3', 'loss_com_e3'):
                assert torch.isfinite(losses[f's{s}.{key}']), (s, key)
        head.eval()
        with torch.no_grad():
            results = head.predict(feats, [proposals], [sample])
    assert len(results) == 1 and (results[0].labels < C).all()


def test_readout_expert_1_is_the_stock_softmax():
    """readout_expert=1 scores a detection with expert 1 alone: exactly the
    stock head's softmax over the C + 1 classes."""
    torch.manual_seed(0)
    head = small_head(num_experts=3, class_counts=COUNTS, readout_expert=1)
    head.eval()
    x = torch.randn(5, 4, 3, 3)
    with torch.no_grad():
        log_p, _ = head(x)
        z1 = super(type(head), head).forward(x)[0]
    assert torch.allclose(log_p.exp(), z1.softmax(dim=1), atol=1e-6)
