"""Reference implementations mmace is tested against (torch only)."""
from .plain_ace import (PlainACE, build_plain, plain_optimizer,
                        plain_step)

__all__ = ['PlainACE', 'build_plain', 'plain_optimizer', 'plain_step']
