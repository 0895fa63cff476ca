from .ace_optim_wrapper_constructor import ACEOptimWrapperConstructor
from .bf16_optim_wrapper import BF16OptimWrapper

__all__ = ['ACEOptimWrapperConstructor', 'BF16OptimWrapper']
