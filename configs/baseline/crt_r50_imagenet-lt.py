# cRT, classifier re-training (Kang et al., ICLR 2020), ResNet-50, ImageNet-LT:
# the second stage on a CE checkpoint (./ce_r50_imagenet-lt.py). The classifier is
# re-initialised and retrained with class-balanced sampling, backbone and
# neck frozen (batch-norm statistics kept), 10 epochs, cosine lr from 0.1 per 256 images (0.2 at 8 x 64, auto_scale_lr), as Kang et al.:
#   python tools/train.py THIS_CONFIG \
#       --cfg-options load_from=work_dirs/ce_r50_imagenet-lt/best_accuracy_top1_epoch_N.pth
_base_ = './ce_r50_imagenet-lt.py'

load_from = None  # the stage-1 checkpoint (required)
train_dataloader = dict(
    sampler=dict(_delete_=True, type='ClassBalancedSampler',
                 mode='class_balanced'))
custom_hooks = [
    dict(type='SecondStageHook', reinit=['head.fc'],
         freeze=['backbone', 'neck'])
]
optim_wrapper = dict(optimizer=dict(lr=0.1))
param_scheduler = [dict(type='CosineAnnealingLR', by_epoch=True, T_max=10)]
train_cfg = dict(max_epochs=10, val_interval=5)
