# Stock FCN on CamVid, trained from scratch on a CPU (no pretrained weights).
# A narrow ResNetV1c-18-D8 (stem/base width 32, output stride 8) with a
# one-conv FCN head (128 channels) and mmseg's auxiliary FCN head; random
# 240x320 crops of images rescaled by 0.5-1.0, batch 4, SGD + poly lr,
# 2400 iterations (~26 epochs); validation on CamVid val at full size
# (480x360) every 600 iterations with LongTailIoUMetric (mIoU + frequent /
# common / rare groups). On one core (OMP_NUM_THREADS=1) an iteration takes
# ~0.7 s (~29 min in all), ~0.95 s for the ACE twin (~39 min), when the
# two runs have a core each.
# Its ACE twin, ace_fcn_r18-d8_camvid_cpu.py, differs only in the decode
# head. To change the length, set both train_cfg.max_iters=N and
# param_scheduler.0.end=N (the poly schedule does not follow max_iters).
_base_ = './fcn_r50-d8_camvid.py'

norm_cfg = dict(type='BN', requires_grad=True)
crop_size = (240, 320)  # (h, w)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    pretrained=None,  # from scratch
    backbone=dict(
        depth=18, stem_channels=32, base_channels=32, norm_cfg=norm_cfg),
    decode_head=dict(
        in_channels=256,
        channels=128,
        num_convs=1,
        concat_input=False,
        num_classes=11,
        norm_cfg=norm_cfg),
    auxiliary_head=dict(
        in_channels=128, channels=64, num_classes=11, norm_cfg=norm_cfg))

# Scales 0.5-1.0 of 480x360 (not 0.5-2.0), then the smaller crops.
train_pipeline = [
    dict(t, ratio_range=(0.5, 1.0)) if t['type'] == 'RandomResize' else
    dict(t, crop_size=crop_size) if t['type'] == 'RandomCrop' else t
    for t in _base_.train_pipeline
]
# One core per run: load data in the main process.
train_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(num_workers=0, persistent_workers=False)
test_dataloader = val_dataloader

max_iters = 2400
param_scheduler = [
    dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=0, end=max_iters,
         by_epoch=False)
]
train_cfg = dict(max_iters=max_iters, val_interval=600)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    checkpoint=dict(
        type='CheckpointHook', by_epoch=False, interval=1200,
        max_keep_ckpts=1))
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
