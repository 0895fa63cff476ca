# ACE twin of faster-rcnn_r50_fpn_1x_coco-lt-mini.py: only the box head
# differs (3 experts; expert 1 is the stock Shared2FC head, experts 2-3 are
# foreground LWS classifiers on copies of fc7, see ACEConvFCBBoxHead).
# Eq. 7 (per-expert learning rates) is off, so that only the head differs
# from the stock twin; optim_wrapper.constructor='ACEOptimWrapperConstructor'
# switches it on.
_base_ = './faster-rcnn_r50_fpn_1x_coco-lt-mini.py'

model = dict(roi_head=dict(bbox_head=dict(
    type='ACEShared2FCBBoxHead', num_experts=3, class_counts='auto')))
