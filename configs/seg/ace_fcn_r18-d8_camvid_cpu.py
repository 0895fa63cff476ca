# ACE twin of fcn_r18-d8_camvid_cpu.py: only the decode head differs
# (ACEFCNHead, 3 experts planned from the training pixels per class, which
# LongTailRunner fills in for class_counts='auto').
_base_ = ['./fcn_r18-d8_camvid_cpu.py']
model = dict(
    decode_head=dict(
        type='ACEFCNHead', num_experts=3, class_counts='auto'))
# Eq. 7 is off: the optimizer stays plain, so that only the head differs
# from the stock twin. ACE's distribution-aware learning rates work here
# too, with --cfg-options optim_wrapper.constructor=ACEOptimWrapperConstructor
# param_scheduler.0.eta_min=0 (expert 2 / 3 get 0.25 / 0.03 of the lr on
# CamVid's pixel shares; PolyLR's absolute eta_min=1e-4 would lift them all
# to the same floor, so LongTailRunner refuses it).
