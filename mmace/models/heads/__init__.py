from .ace_head import ACEHead
from .lws_linear import LWSLinear

__all__ = ['ACEHead', 'LWSLinear']
