_base_ = 'mmpretrain::_base_/default_runtime.py'

custom_imports = dict(imports=['mmace'], allow_failed_imports=False)
# Fills every class_counts='auto' from train_dataloader.dataset (when
# testing, from the checkpoint) and runs launcher='pytorch' on CPU-only
# machines too.
runner_type = 'LongTailRunner'

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    checkpoint=dict(
        type='CheckpointHook', interval=10, max_keep_ckpts=2,
        save_best='auto'))
# mmace's own hooks. A config that adds hooks keeps these with
# `custom_hooks = [dict(type=...)] + _base_.custom_hooks`.
custom_hooks = [
    # Stop at the first NaN/inf loss, before such weights are saved.
    dict(type='NonFiniteLossHook'),
    # Random states in checkpoints: a resumed run replays the augmentation.
    dict(type='RNGStateHook'),
    # NHWC activations on CPU: train steps 1.32x, inference 1.27x faster
    # (ResNet-32 ACE, 2 threads; docs/speed.md). Parameters, checkpoints and
    # DDP are unchanged; without it runs are NCHW, as the CIFAR results in
    # configs/ace/README.md were trained. devices=('cpu', 'cuda') for GPUs.
    dict(type='ChannelsLastHook'),
]

# Scalars go to <work_dir>/<timestamp>/vis_data/scalars.json. TensorBoard too
# (every logged metric, e.g. accuracy/many, accuracy/expert2_few):
#   MMACE_TENSORBOARD=1 python tools/train.py CONFIG
vis_backends = [dict(type='LocalVisBackend')] + \
    [dict(type='TensorboardVisBackend')] * int('{{$MMACE_TENSORBOARD:0}}')
visualizer = dict(type='UniversalVisualizer', vis_backends=vis_backends)
