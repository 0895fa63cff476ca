# LDAM-DRW (Cao et al., NeurIPS 2019), ResNet-32, CIFAR-10-LT-100: the CE
# baseline with the LDAM loss (max margin 0.5, scale 30) and deferred
# re-weighting (effective number, beta 0.9999) from the first lr decay, as
# in their protocol (there epoch 160 of 200; here 320 of the same 400-epoch
# schedule as every other CIFAR config).
_base_ = ['./ce_r32_cifar10-lt-100.py', './_base_/ldam_drw.py']

model = dict(head=_base_.ldam_head)
custom_hooks = [dict(type='DeferredReweightingHook', start_epoch=320)
                ] + _base_.custom_hooks
