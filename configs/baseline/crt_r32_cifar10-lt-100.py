# cRT, classifier re-training (Kang et al., ICLR 2020): the second stage on
# a CE checkpoint (./ce_r32_cifar10-lt-100.py). The classifier is
# re-initialised and retrained with class-balanced sampling, backbone and
# neck frozen (batch-norm statistics kept), 10 epochs, cosine lr from 0.05:
#   python tools/train.py configs/baseline/crt_r32_cifar10-lt-100.py \
#       --cfg-options load_from=work_dirs/ce_r32_cifar10-lt-100/epoch_400.pth
_base_ = './ce_r32_cifar10-lt-100.py'

load_from = None  # the stage-1 checkpoint (required)
train_dataloader = dict(
    sampler=dict(_delete_=True, type='ClassBalancedSampler',
                 mode='class_balanced'))
custom_hooks = [
    dict(type='SecondStageHook', reinit=['head.fc'],
         freeze=['backbone', 'neck'])
]
optim_wrapper = dict(optimizer=dict(lr=0.05))
param_scheduler = [dict(type='CosineAnnealingLR', by_epoch=True, T_max=10)]
train_cfg = dict(max_epochs=10, val_interval=5)
