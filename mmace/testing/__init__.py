"""Reference implementations mmace is tested against (torch only), and
test instruments."""
from .host_reads import HOST_READS, HostReads
from .plain_ace import (PlainACE, build_plain, plain_optimizer,
                        plain_step)

__all__ = [
    'HOST_READS', 'HostReads', 'PlainACE', 'build_plain', 'plain_optimizer',
    'plain_step'
]
