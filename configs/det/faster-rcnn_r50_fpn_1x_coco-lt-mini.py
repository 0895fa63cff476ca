# Stock Faster R-CNN R-50-FPN 1x (mmdet's recipe, ImageNet-pretrained
# backbone) on coco-lt-mini (../shared/data/coco-lt-mini, link it to
# data/coco-lt-mini), evaluated with COCO AP plus rare/common/frequent AP.
# The ACE twin, ace_faster-rcnn_r50_fpn_1x_coco-lt-mini.py, differs only in
# the box head.
_base_ = 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'

custom_imports = dict(imports=['mmace'], allow_failed_imports=False)
# Fills class_counts='auto' (head and metric) from train_dataloader.dataset.
runner_type = 'LongTailRunner'
default_scope = 'mmdet'

data_root = 'data/coco-lt-mini/'

train_dataloader = dict(
    dataset=dict(
        data_root=data_root,
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img='images/')))
val_dataloader = dict(
    dataset=dict(
        data_root=data_root,
        ann_file='annotations/instances_val.json',
        data_prefix=dict(img='images/')))
test_dataloader = val_dataloader

val_evaluator = dict(
    type='LongTailCocoMetric',
    ann_file=data_root + 'annotations/instances_val.json',
    metric='bbox',
    class_counts='auto',
    group_thrs=(10, 100))
test_evaluator = val_evaluator

# Gradient clipping, as in both CPU twins: the ACE experts' complement loss
# (Eq. 5) can diverge without it (seen from scratch at lr 0.01).
optim_wrapper = dict(clip_grad=dict(max_norm=35, norm_type=2))
