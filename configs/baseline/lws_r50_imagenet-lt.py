# LWS, learnable weight scaling (Kang et al., ICLR 2020), ResNet-50, ImageNet-LT:
# the second stage on a CE checkpoint, as cRT (./crt_r50_imagenet-lt.py) but
# the classifier is kept and only a per-class scale of its logits is learned.
_base_ = ['./crt_r50_imagenet-lt.py', './_base_/lws.py']

model = dict(head=_base_.lws_head)
# cRT's SecondStageHook (first) without its re-initialisation.
custom_hooks = [dict(type='SecondStageHook')] + _base_.custom_hooks[1:]
optim_wrapper = dict(paramwise_cfg=_base_.lws_paramwise_cfg)
