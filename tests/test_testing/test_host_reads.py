"""HostReads counts the tensor methods that copy to the host, and only
while active and inside its block."""
import torch

from mmace.testing import HostReads


def test_counts_reads_while_active_and_restores_the_methods():
    item = torch.Tensor.item
    with HostReads(active=False) as reads:
        torch.ones(2).sum().item()
        assert reads.total == 0
        reads.active = True
        torch.ones(2).sum().item()
        bool(torch.ones(1))
        float(torch.ones(1))
        torch.ones(3).tolist()
        torch.ones(2) + 1  # stays on the device: no read
    assert dict(reads.counts) == {'item': 1, '__bool__': 1, '__float__': 1,
                                  'tolist': 1}
    assert torch.Tensor.item is item
    torch.ones(1).item()
    assert reads.total == 4
