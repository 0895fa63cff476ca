"""ACE on ResNet-32 in plain PyTorch: the reference mmace is tested against.

Written from the paper (Sec. 3.2-3.4) with nothing but torch, in the most
direct form (sub-batches gathered, one expert at a time), so that it can
serve as an oracle: :func:`build_plain` copies the weights of an mmace
``ImageClassifier`` with ``ACEBackbone`` + ``ACEHead`` (parameter names and
shapes match), and the two must give the same logits, the same loss and the
same SGD step. ``.dev_scripts/benchmark/benchmark_ace.py`` also times it
against mmace.

Its defaults are mmace's: Eq. 2 as the plain norm ratio over the target
rows, Eq. 5 as the squared sum averaged over the sub-batch, Eq. 1 by class
count (the masks are given).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


class PlainBlock(nn.Module):
    """ResNet basic block; a 1x1 conv + BN shortcut when the shape changes."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False),
                nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return F.relu(out + identity, inplace=True)


def plain_stage(cin, cout, stride, blocks=5):
    return nn.Sequential(
        PlainBlock(cin, cout, stride),
        *[PlainBlock(cout, cout, 1) for _ in range(blocks - 1)])


class PlainTrunk(nn.Module):
    """ResNet-32 stem and stages 1-2 (16 and 32 channels)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.layer1 = plain_stage(16, 16, 1)
        self.layer2 = plain_stage(16, 32, 2)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)), inplace=True)
        return self.layer2(self.layer1(x))


class PlainBackbone(nn.Module):

    def __init__(self, num_experts):
        super().__init__()
        self.trunk = PlainTrunk()
        self.experts = nn.ModuleList(
            plain_stage(32, 64, 2) for _ in range(num_experts))


class PlainLWS(nn.Module):
    """LWS: ``scale * (x W^T) + bias``; weight ``[C, D]``, the rest
    ``[C]``."""

    def __init__(self, dim, num_classes):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(num_classes, dim) * 0.01)
        self.bias = nn.Parameter(torch.zeros(num_classes))
        self.scale = nn.Parameter(torch.ones(num_classes))


class PlainHead(nn.Module):

    def __init__(self, dim, num_classes, num_experts):
        super().__init__()
        self.classifiers = nn.ModuleList(
            PlainLWS(dim, num_classes) for _ in range(num_experts))


class PlainACE(nn.Module):
    """ResNet-32 ACE from the paper, in plain torch.

    Parameter names and shapes are those of mmace's ``ImageClassifier``
    (``backbone.trunk.*``, ``backbone.experts.{i}.*``,
    ``head.classifiers.{i}.*``), so mmace's weights load into it.

    Args:
        masks (Tensor): ``[K, C]`` bool target classes of each expert.
    """

    def __init__(self, masks):
        super().__init__()
        self.masks = masks
        num_experts, num_classes = masks.shape
        self.backbone = PlainBackbone(num_experts)
        self.head = PlainHead(64, num_classes, num_experts)

    def expert_logits(self, x):
        shared = self.backbone.trunk(x)
        logits = []
        for i, (expert, clf) in enumerate(
                zip(self.backbone.experts, self.head.classifiers)):
            # Only expert 1's loss reaches the trunk (Sec. 3.4).
            feat = expert(shared if i == 0 else shared.detach())
            feat = feat.mean(dim=(2, 3))
            logits.append(
                F.linear(feat, clf.scale[:, None] * clf.weight, clf.bias))
        return logits

    def loss(self, x, targets):
        """Sum over experts of Eq. 4 + Eq. 5 on each expert's sub-batch.

        ``targets``: hard labels ``[N]`` or soft (Mixup) scores ``[N, C]``,
        where a sample enters sub-batch i with its label mass in C_i.
        """
        total = 0.
        for z, mask in zip(self.expert_logits(x), self.masks):
            if targets.dim() == 1:
                member = mask[targets]
                z, y = z[member], targets[member]
                if y.numel() == 0:  # empty sub-batch: 0, gradients still flow
                    total = total + 0. * z.sum()
                    continue
                ce = F.cross_entropy(z, y)
                com = z[:, ~mask].pow(2).sum(dim=1).mean()
            else:
                y = targets * mask
                weight = y.sum(dim=1)
                size = weight.sum().clamp(min=1e-12)
                ce = -(y * z.log_softmax(dim=1)).sum() / size
                com = (z[:, ~mask].pow(2).sum(dim=1) * weight).sum() / size
            total = total + ce + com
        return total

    def forward(self, x):
        """Aggregated logits: Eq. 2 (plain norm ratio over the target
        rows) and Eq. 3 (mean over the experts targeting a class)."""
        logits = self.expert_logits(x)
        masks = self.masks.to(logits[0].dtype)
        with torch.no_grad():
            norms = torch.stack([
                ((clf.scale[:, None] * clf.weight)[mask]).norm()
                for clf, mask in zip(self.head.classifiers, self.masks)
            ])
        factors = norms / norms[0]
        out = sum(f * z * m for f, z, m in zip(factors, logits, masks))
        return out / masks.sum(dim=0).clamp(min=1)


def plain_optimizer(model, shares, lr=0.1, momentum=0.9, weight_decay=2e-4):
    """SGD with the trunk at the base lr and expert i's parameters at
    ``lr * share_i`` (Eq. 7)."""
    groups = [dict(params=list(model.backbone.trunk.parameters()), lr=lr)]
    for i, share in enumerate(shares):
        params = list(model.backbone.experts[i].parameters()) + list(
            model.head.classifiers[i].parameters())
        groups.append(dict(params=params, lr=lr * float(share)))
    return torch.optim.SGD(
        groups, lr=lr, momentum=momentum, weight_decay=weight_decay)


def plain_step(model, optimizer, inputs, targets):
    """Forward + loss + backward + SGD step of the plain reference."""
    loss = model.loss(inputs, targets)
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()
    return loss


def build_plain(ace):
    """A :class:`PlainACE` holding a copy of mmace ACE's weights."""
    head = ace.head
    plain = PlainACE(head.target_masks.clone())
    missing, unexpected = plain.load_state_dict(
        ace.state_dict(), strict=False)
    # Only the head's buffers (counts, masks) have no plain counterpart.
    if missing or set(unexpected) != {'head.class_counts',
                                      'head.target_masks'}:
        raise RuntimeError(f'plain ACE does not mirror mmace ACE: missing '
                           f'{missing}, unexpected {unexpected}')
    return plain.to(head.target_masks.device)
