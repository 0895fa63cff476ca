"""Reference implementations mmace is tested against (torch only), and
test instruments."""
from .host_reads import HOST_READS, HostReads
from .op_counts import BlockingCopies, OpCounter
from .plain_ace import (PlainACE, build_plain, plain_optimizer,
                        plain_step)

__all__ = [
    'BlockingCopies', 'HOST_READS', 'HostReads', 'OpCounter', 'PlainACE',
    'build_plain', 'plain_optimizer', 'plain_step'
]
