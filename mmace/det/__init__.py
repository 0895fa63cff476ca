"""mmdet 3.x side of mmace: the ACE bbox head and the long-tail COCO metric.

Importing this package registers ``ACEConvFCBBoxHead`` and
``ACEShared2FCBBoxHead`` in mmdet's ``MODELS`` and ``LongTailCocoMetric`` in
mmdet's ``METRICS``. It needs mmdet, and ``import mmace`` first (the ops
fallback must be installed before ``mmdet.models`` is imported).
"""
from .ace_bbox_head import ACEConvFCBBoxHead, ACEShared2FCBBoxHead, DetExpert
from .long_tail_coco_metric import LongTailCocoMetric, frequency_groups

__all__ = [
    'ACEConvFCBBoxHead', 'ACEShared2FCBBoxHead', 'DetExpert',
    'LongTailCocoMetric', 'frequency_groups'
]
