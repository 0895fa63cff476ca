"""Count host reads of tensors: on a GPU each one waits for the device."""
import collections

import torch

#: Tensor methods that copy a value to the host (and so synchronise).
HOST_READS = ('item', '__float__', '__bool__', '__int__', 'tolist', 'numpy')


class HostReads:
    """Counts calls of :data:`HOST_READS` on any tensor while active.

    A context manager: inside ``with HostReads() as reads:`` the tensor
    methods are wrapped; ``reads.active`` switches counting on and off (for
    example around training iterations) and ``reads.counts`` holds the
    counts by method.

    Example:
        >>> with HostReads() as reads:
        ...     reads.active = True
        ...     _ = torch.ones(2).sum().item()
        >>> reads.total
        1
    """

    def __init__(self, active: bool = True):
        self.active = active
        self.counts = collections.Counter()
        self._orig = {}

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def reset(self) -> None:
        self.counts.clear()

    def __enter__(self) -> 'HostReads':
        for name in HOST_READS:
            orig = getattr(torch.Tensor, name)
            self._orig[name] = orig

            def wrapped(tensor, *args, _orig=orig, _name=name, **kwargs):
                if self.active:
                    self.counts[_name] += 1
                return _orig(tensor, *args, **kwargs)

            setattr(torch.Tensor, name, wrapped)
        return self

    def __exit__(self, *exc) -> None:
        for name, orig in self._orig.items():
            setattr(torch.Tensor, name, orig)
        self._orig = {}
