from .ace_head import ACEHead
from .long_tail_linear_head import LongTailLinearClsHead
from .lws_linear import LWSLinear

__all__ = ['ACEHead', 'LongTailLinearClsHead', 'LWSLinear']
