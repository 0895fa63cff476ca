# Stock FCN (ResNet-50-D8, ImageNet-pretrained as in mmseg) on CamVid.
# Its ACE twin is ace_fcn_r50-d8_camvid.py (only the decode head differs).
_base_ = [
    'mmseg::_base_/models/fcn_r50-d8.py', './_base_/camvid.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_20k.py'
]
custom_imports = dict(imports=['mmace'], allow_failed_imports=False)
# Fills class_counts='auto' (the metric's, and the ACE head's) with the
# training pixels per class of train_dataloader.dataset.
runner_type = 'LongTailRunner'
crop_size = (360, 480)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    # pretrained='open-mmlab://resnet50_v1c' comes from the mmseg base.
    decode_head=dict(num_classes=11),
    auxiliary_head=dict(num_classes=11))
