_base_ = 'mmpretrain::_base_/default_runtime.py'

custom_imports = dict(imports=['mmace'], allow_failed_imports=False)
# Fills every class_counts='auto' from train_dataloader.dataset and runs
# launcher='pytorch' on CPU-only machines too.
runner_type = 'LongTailRunner'

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    checkpoint=dict(
        type='CheckpointHook', interval=10, max_keep_ckpts=2,
        save_best='auto'))
