from .checkpoint import register_checkpoint_safe_globals
from .ops_fallback import (MissingCompiledOpError, has_compiled_ops,
                           install_ops_fallback)

__all__ = [
    'register_checkpoint_safe_globals', 'install_ops_fallback',
    'has_compiled_ops', 'MissingCompiledOpError'
]
