# LDAM-DRW (Cao et al., NeurIPS 2019), ResNet-50, ImageNet-LT: the CE
# baseline with the LDAM loss (max margin 0.5, scale 30) and deferred
# re-weighting (effective number, beta 0.9999) from epoch 120,
# the first lr decay of the 180-epoch ImageNet-LT schedule.
_base_ = ['./ce_r50_imagenet-lt.py', './_base_/ldam_drw.py']

model = dict(head=_base_.ldam_head)
custom_hooks = [dict(type='DeferredReweightingHook', start_epoch=120)
                ] + _base_.custom_hooks
