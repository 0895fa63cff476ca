# ACE twin of faster-rcnn_r50_fpn_1x_coco-lt-mini.py: only the box head
# differs (3 experts; expert 1 is the stock Shared2FC head, experts 2-3 are
# foreground LWS classifiers on copies of fc7, see ACEConvFCBBoxHead).
_base_ = './faster-rcnn_r50_fpn_1x_coco-lt-mini.py'

model = dict(
    roi_head=dict(
        bbox_head=dict(
            type='ACEShared2FCBBoxHead', num_experts=3,
            class_counts='auto')))
