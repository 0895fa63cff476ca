# ACE twin of faster-rcnn_r18_fpn_coco-lt-mini_cpu.py: only the box head
# differs (3 experts on copies of the last shared fc, see ACEConvFCBBoxHead).
# Eq. 7 (per-expert learning rates) is off, so that only the head differs
# from the stock twin; optim_wrapper.constructor='ACEOptimWrapperConstructor'
# switches it on.
_base_ = './faster-rcnn_r18_fpn_coco-lt-mini_cpu.py'

model = dict(roi_head=dict(bbox_head=dict(
    type='ACEShared2FCBBoxHead', num_experts=3, class_counts='auto')))
