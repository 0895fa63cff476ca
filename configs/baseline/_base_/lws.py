# LWS, learnable weight scaling (Kang et al., ICLR 2020), the parts every
# data set shares. The lws_*.py configs take these with _base_.<name> beside
# their cRT parent: the backbone is frozen as in cRT; the classifier's
# weights are kept (not re-initialised) and not updated, only a per-class
# scale of its logits (head.fc.scale) learns.
lws_head = dict(type='LongTailLinearClsHead', lws=True)
lws_paramwise_cfg = dict(
    custom_keys={
        'head.fc.weight': dict(lr_mult=0., decay_mult=0.),
        'head.fc.bias': dict(lr_mult=0., decay_mult=0.)
    })
