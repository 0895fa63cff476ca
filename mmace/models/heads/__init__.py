from .ace_head import ACEHead
from .long_tail_linear_head import LongTailLinearClsHead
from .lws import LWSConv2d, LWSLinear

__all__ = ['ACEHead', 'LongTailLinearClsHead', 'LWSConv2d', 'LWSLinear']
