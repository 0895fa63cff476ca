# ACE as its authors ran it (winterxx/ACE, configs/cifar100_im50.yaml):
# CIFAR-100-LT-50. Paper Table 4: 50.7 top-1. As cifar100_im100.yaml but
# with sample shares [0.4, 0.1], Mixup (alpha 0.3) for the first 260 epochs
# and 10 warm-up epochs.
_base_ = ['./ace-authors_r32_cifar100-lt-100.py']

model = dict(head=dict(share_thresholds=[0.4, 0.1]))
data_preprocessor = dict(
    batch_augments=dict(_base_.ace_batch_augments, _delete_=True))
train_dataloader = dict(dataset=dict(imb_factor=50))

param_scheduler = _base_.authors_cifar_param_scheduler
custom_hooks = [dict(type='SwitchOffBatchAugHook', num_last_epochs=20)
                ] + _base_.custom_hooks
