# The default runtime plus ACE's Mixup schedule (paper 4.1): Mixup with
# alpha 0.3, switched off for the last 20 epochs. The runtime holds the hook;
# each ACE config turns Mixup on beside its dataset (data_preprocessor lives
# in the dataset base) with
#   data_preprocessor = dict(batch_augments=_base_.ace_batch_augments)
_base_ = './default_runtime.py'

ace_batch_augments = dict(augments=dict(type='Mixup', alpha=0.3))
custom_hooks = [dict(type='SwitchOffBatchAugHook', num_last_epochs=20)
                ] + _base_.custom_hooks
