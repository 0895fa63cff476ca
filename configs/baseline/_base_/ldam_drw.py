# LDAM-DRW (Cao et al., NeurIPS 2019), the parts every data set shares. The
# ldam-drw_*.py configs take these with _base_.<name> beside their CE
# parent, and set the deferred re-weighting's start (the first lr decay of
# their schedule; Cao et al.: epoch 160 of 200).

# LDAM (max margin 0.5, scale 30) scales cosine logits: the cosine
# classifier of LDAM-DRW (on a plain linear head it diverges).
ldam_head = dict(
    type='LongTailLinearClsHead',
    cosine=True,
    loss=dict(_delete_=True, type='LDAMLoss', max_margin=0.5, scale=30.0))
