from mmpretrain.models.backbones.resnet import BasicBlock
from mmpretrain.models.backbones.resnet_cifar import ResNet_CIFAR
from mmpretrain.registry import MODELS


@MODELS.register_module()
class CIFARResNet(ResNet_CIFAR):
    """ResNet for 32x32 inputs, the CIFAR family of He et al. (2016).

    Please refer to the `paper <https://arxiv.org/abs/1512.03385>`__ (section
    4.2) for details. A depth of ``6n + 2`` gives three stages of ``n``
    :class:`BasicBlock` each, with 16/32/64 channels and strides 1/2/2 after a
    3x3, 16-channel stem without max-pooling, so a 32x32 image gives a
    64x8x8 feature map.

    It reuses mmpretrain's :class:`ResNet_CIFAR`, so every other argument,
    the stage layout (``res_layers == ['layer1', 'layer2', 'layer3']``, each
    a :class:`ResLayer`) and the weight initialization are mmpretrain's.
    The only difference from the paper is the shortcut when the shape
    changes: mmpretrain uses a 1x1 conv + BN projection (option B) instead of
    zero padding (option A). For ResNet-32 this adds
    ``(16*32 + 2*32) + (32*64 + 2*64) = 2,752`` parameters: the backbone has
    466,256 parameters (463,504 with option A) and 466,906 with a 10-way
    linear classifier, the paper's "0.46M".

    Args:
        depth (int): Network depth, from {20, 32, 44, 56, 110}.
        in_channels (int): Number of input image channels. Defaults to 3.
        stem_channels (int): Output channels of the stem layer.
            Defaults to 16.
        base_channels (int): Output channels of the first stage; each later
            stage doubles it. Defaults to 16.
        num_stages (int): Stages of the network, from 1 to 3. Defaults to 3.
        strides (Sequence[int]): Strides of the first block of each stage.
            Defaults to ``(1, 2, 2)``.
        dilations (Sequence[int]): Dilation of each stage.
            Defaults to ``(1, 1, 1)``.
        out_indices (Sequence[int]): Output from which stages.
            Defaults to ``(2, )``.
        **kwargs: Other arguments of :class:`mmpretrain.models.ResNet`, e.g.
            ``frozen_stages``, ``norm_cfg``, ``norm_eval``,
            ``zero_init_residual`` and ``init_cfg``.

    Example:
        >>> import torch
        >>> from mmace.models.backbones import CIFARResNet
        >>> self = CIFARResNet(depth=32, out_indices=(0, 1, 2))
        >>> self.eval()
        >>> for level_out in self.forward(torch.rand(1, 3, 32, 32)):
        ...     print(tuple(level_out.shape))
        (1, 16, 32, 32)
        (1, 32, 16, 16)
        (1, 64, 8, 8)
    """

    arch_settings = {
        20: (BasicBlock, (3, 3, 3)),
        32: (BasicBlock, (5, 5, 5)),
        44: (BasicBlock, (7, 7, 7)),
        56: (BasicBlock, (9, 9, 9)),
        110: (BasicBlock, (18, 18, 18)),
    }

    def __init__(self,
                 depth=32,
                 in_channels=3,
                 stem_channels=16,
                 base_channels=16,
                 num_stages=3,
                 strides=(1, 2, 2),
                 dilations=(1, 1, 1),
                 out_indices=(2, ),
                 **kwargs):
        # ResNet's own checks are bare asserts or do not list the choices.
        if depth not in self.arch_settings:
            raise KeyError(f'invalid depth={depth!r} for CIFARResNet, '
                           f'supported depths: {sorted(self.arch_settings)}')
        if not 1 <= num_stages <= 3:
            raise ValueError('CIFARResNet needs 1 <= num_stages <= 3, got '
                             f'num_stages={num_stages!r}')
        if not len(strides) == len(dilations) == num_stages:
            raise ValueError(
                f'strides={tuple(strides)} and dilations={tuple(dilations)} '
                f'must both have num_stages={num_stages} items')
        if not all(0 <= i < num_stages for i in out_indices):
            raise ValueError(f'out_indices={tuple(out_indices)} must be in '
                             f'[0, num_stages={num_stages})')
        super().__init__(
            depth=depth,
            in_channels=in_channels,
            stem_channels=stem_channels,
            base_channels=base_channels,
            num_stages=num_stages,
            strides=strides,
            dilations=dilations,
            out_indices=out_indices,
            **kwargs)
