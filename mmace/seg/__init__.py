"""mmsegmentation 1.x side of mmace: importing it registers, in mmseg's
registries, the CamVid dataset (``CamVidDataset``), the ACE decode head
(``ACEFCNHead``) and the long-tail IoU metric (``LongTailIoUMetric``).

``mmace/__init__.py`` imports this package only when mmseg is installed.
"""
from .ace_fcn_head import ACEFCNHead, LWSConv2d, SegExpert
from .camvid import CamVidDataset
from .long_tail_iou_metric import DEFAULT_GROUPS, LongTailIoUMetric

__all__ = [
    'ACEFCNHead', 'LWSConv2d', 'SegExpert', 'CamVidDataset',
    'LongTailIoUMetric', 'DEFAULT_GROUPS'
]
