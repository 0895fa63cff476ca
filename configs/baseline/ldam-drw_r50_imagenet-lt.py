# LDAM-DRW (Cao et al., NeurIPS 2019), ResNet-50, ImageNet-LT: the CE
# baseline with the LDAM loss (max margin 0.5, scale 30) and deferred
# re-weighting (effective number, beta 0.9999) from epoch 120,
# the first lr decay of the 180-epoch ImageNet-LT schedule.
_base_ = './ce_r50_imagenet-lt.py'

# LDAM scales cosine logits: the cosine classifier of LDAM-DRW.
model = dict(
    head=dict(
        type='LongTailLinearClsHead',
        cosine=True,
        loss=dict(_delete_=True, type='LDAMLoss', max_margin=0.5,
                  scale=30.0)))
custom_hooks = [dict(type='DeferredReweightingHook', start_epoch=120)]
