# LDAM-DRW (Cao et al., NeurIPS 2019), ResNet-32, CIFAR-10-LT-100: the CE
# baseline with the LDAM loss (max margin 0.5, scale 30) and deferred
# re-weighting (effective number, beta 0.9999) from the first lr decay, as
# in their protocol (there epoch 160 of 200; here 320 of the same 400-epoch
# schedule as every other CIFAR config).
_base_ = './ce_r32_cifar10-lt-100.py'

# LDAM scales cosine logits: the cosine classifier of LDAM-DRW.
model = dict(
    head=dict(
        type='LongTailLinearClsHead',
        cosine=True,
        loss=dict(_delete_=True, type='LDAMLoss', max_margin=0.5,
                  scale=30.0)))
custom_hooks = [dict(type='DeferredReweightingHook', start_epoch=320)]
