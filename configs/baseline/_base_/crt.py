# cRT, classifier re-training (Kang et al., ICLR 2020), the parts every data
# set shares. The crt_*.py configs take these with _base_.<name> beside their
# CE parent (whose checkpoint they load: load_from, required) and set the
# learning rate and the backbone stages to freeze (all of them).

# The classifier is re-initialised and retrained with class-balanced
# sampling for 10 epochs, cosine lr.
crt_sampler = dict(
    _delete_=True, type='ClassBalancedSampler', mode='class_balanced')
crt_hooks = [dict(type='SecondStageHook', reinit=['head'])]
crt_param_scheduler = [
    dict(type='CosineAnnealingLR', by_epoch=True, T_max=10)]
crt_train_cfg = dict(max_epochs=10, val_interval=5)
