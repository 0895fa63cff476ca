# ACE (3 experts) on long-tailed handwritten digits: the README's main job.
_base_ = [
    '../_base_/models/ace_resnet32_cifar.py',
    '../_base_/datasets/digits_lt.py',
    '../_base_/schedules/digits_30e.py', '../_base_/default_runtime.py'
]

# The ACE recipe (paper 3.4, 4.1): per-expert lr scaled by data share, Mixup
# alpha=0.3 switched off for the last epochs (20 of 400 in the paper).
optim_wrapper = dict(
    constructor='ACEOptimWrapperConstructor',
    paramwise_cfg=dict(lr_scheme='linear'))
data_preprocessor = dict(
    batch_augments=dict(augments=dict(type='Mixup', alpha=0.3)))
custom_hooks = [dict(type='SwitchOffBatchAugHook', num_last_epochs=5)
                ] + _base_.custom_hooks
model = dict(head=dict(return_expert_scores=True))

default_hooks = dict(logger=dict(interval=10))
randomness = dict(seed=0)
