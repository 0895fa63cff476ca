"""Count what a training iteration asks of the device, on any device.

- :class:`OpCounter`: ATen operators dispatched (forward, backward and
  optimizer alike, below autograd), views left out. On a GPU nearly each
  one is a kernel launch, so on a CPU the count tells what the launch
  count of the same loop would be.
- :class:`BlockingCopies`: ``Tensor.to`` / ``Tensor.cuda`` calls that name a
  device without ``non_blocking=True``, where the data cross from the host
  (the phases in ``host_phases``, e.g. the data preprocessor: on a CPU the
  copy is a no-op there, but on a GPU it is a host-to-device copy) or
  change device. From pinned memory such a copy makes the host wait for
  the device.

Both count into ``counts[phase]``; set ``phase`` (or None to pause) from
hooks around the parts of an iteration.
"""
import collections

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode


class OpCounter(TorchDispatchMode):
    """Counts non-view ATen ops by phase (``with OpCounter() as ops:``)."""

    def __init__(self):
        super().__init__()
        self.phase = None
        self.counts = collections.Counter()
        self.by_op = collections.defaultdict(collections.Counter)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if self.phase is not None and not func.is_view:
            self.counts[self.phase] += 1
            self.by_op[self.phase][func.overloadpacket.__name__] += 1
        return func(*args, **(kwargs or {}))


class BlockingCopies(TorchFunctionMode):
    """Counts blocking ``Tensor.to(device)`` / ``Tensor.cuda()`` calls by
    phase: every one in ``host_phases``, elsewhere those that change
    device."""

    def __init__(self, host_phases=('prep', )):
        super().__init__()
        self.phase = None
        self.host_phases = host_phases
        self.counts = collections.Counter()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if self.phase is not None and func in (torch.Tensor.to,
                                               torch.Tensor.cuda):
            if func is torch.Tensor.cuda:
                device, non_blocking = torch.device('cuda'), kwargs.get(
                    'non_blocking', False)
            else:
                device, _, non_blocking, _ = torch._C._nn._parse_to(
                    *args[1:], **kwargs)
            moves = device is not None and (
                self.phase in self.host_phases
                or torch.device(device) != args[0].device)
            if moves and not non_blocking:
                self.counts[self.phase] += 1
        return func(*args, **kwargs)
