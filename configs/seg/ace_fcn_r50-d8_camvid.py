# ACE twin of fcn_r50-d8_camvid.py: the decode head is ACEFCNHead (3
# experts planned from the training pixels per class), the rest is equal.
# Eq. 7 (per-expert learning rates) is off, so that only the head differs
# from the stock twin; optim_wrapper.constructor='ACEOptimWrapperConstructor'
# switches it on.
_base_ = ['./fcn_r50-d8_camvid.py']
model = dict(
    decode_head=dict(
        type='ACEFCNHead', num_experts=3, class_counts='auto'))
