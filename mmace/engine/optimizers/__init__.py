from .ace_optim_wrapper_constructor import ACEOptimWrapperConstructor

__all__ = ['ACEOptimWrapperConstructor']
