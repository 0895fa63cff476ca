# cRT, classifier re-training (Kang et al., ICLR 2020), ResNet-32, CIFAR-100-LT-100:
# the second stage on a CE checkpoint (./ce_r32_cifar100-lt-100.py). The classifier is
# re-initialised and retrained with class-balanced sampling, backbone and
# neck frozen (batch-norm statistics kept), 10 epochs, cosine lr from 0.05:
#   python tools/train.py THIS_CONFIG \
#       --cfg-options load_from=work_dirs/ce_r32_cifar100-lt-100/epoch_400.pth
_base_ = ['./ce_r32_cifar100-lt-100.py', './_base_/crt.py']

load_from = None  # the stage-1 checkpoint (required)
train_dataloader = dict(sampler=_base_.crt_sampler)
# Frozen when the model is built, before DDP wraps it: the whole backbone
# (all 3 stages and the stem), batch-norm statistics included.
model = dict(backbone=dict(frozen_stages=3, norm_eval=True))
custom_hooks = _base_.crt_hooks + _base_.custom_hooks
optim_wrapper = dict(optimizer=dict(lr=0.05))
param_scheduler = _base_.crt_param_scheduler
train_cfg = _base_.crt_train_cfg
