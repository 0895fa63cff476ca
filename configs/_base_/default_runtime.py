_base_ = 'mmpretrain::_base_/default_runtime.py'

custom_imports = dict(imports=['mmace'], allow_failed_imports=False)
# Fills every class_counts='auto' from train_dataloader.dataset and runs
# launcher='pytorch' on CPU-only machines too.
runner_type = 'LongTailRunner'

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    checkpoint=dict(
        type='CheckpointHook', interval=10, max_keep_ckpts=2,
        save_best='auto'),
    # Stop at the first NaN/inf loss, before such weights are saved
    # (switch off: default_hooks.non_finite_loss=None).
    non_finite_loss=dict(type='NonFiniteLossHook'),
    # Random states in checkpoints: a resumed run replays the augmentation.
    rng_state=dict(type='RNGStateHook'),
    # NHWC activations on CPU: train steps 1.32x, inference 1.27x faster
    # (ResNet-32 ACE, 2 threads; docs/speed.md). Parameters, checkpoints and
    # DDP are unchanged; default_hooks.channels_last=None runs NCHW, as the
    # CIFAR results in configs/ace/README.md were trained.
    # devices=('cpu', 'cuda') for GPUs.
    channels_last=dict(type='ChannelsLastHook'))

# Scalars go to <work_dir>/<timestamp>/vis_data/scalars.json. TensorBoard too
# (every logged metric, e.g. accuracy/many, accuracy/expert2_few):
#   MMACE_TENSORBOARD=1 python tools/train.py CONFIG
vis_backends = [dict(type='LocalVisBackend')] + \
    [dict(type='TensorboardVisBackend')] * int('{{$MMACE_TENSORBOARD:0}}')
visualizer = dict(type='UniversalVisualizer', vis_backends=vis_backends)
