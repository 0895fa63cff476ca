# ACE twin of faster-rcnn_r18_fpn_coco-lt-mini_cpu_overfit16.py: only the box
# head differs.
_base_ = './faster-rcnn_r18_fpn_coco-lt-mini_cpu_overfit16.py'

model = dict(roi_head=dict(bbox_head=dict(
    type='ACEShared2FCBBoxHead', num_experts=3, class_counts='auto')))
