from mmpretrain.models.backbones.resnet import BasicBlock, ResNet
from mmpretrain.registry import MODELS


@MODELS.register_module()
class ResNet10(ResNet):
    """ResNet-10, the ImageNet-LT baseline backbone.

    mmpretrain's :class:`ResNet` with one extra arch setting,
    ``10: (BasicBlock, (1, 1, 1, 1))``: the standard ImageNet stem (7x7 conv,
    stride 2, max-pooling) followed by four stages of one :class:`BasicBlock`
    each. It outputs 512 channels at stride 32 and has 4,905,792 parameters
    (5,418,792 with a 1000-way linear classifier).

    The long-tailed recognition literature (Liu et al. 2019, Kang et al. 2020,
    ACE) uses this network for ImageNet-LT. ``depth`` may still be any depth
    of :class:`ResNet`.

    Args:
        depth (int): Network depth, from {10, 18, 34, 50, 101, 152}.
            Defaults to 10.
        **kwargs: Other arguments of :class:`mmpretrain.models.ResNet`.

    Example:
        >>> import torch
        >>> from mmace.models.backbones import ResNet10
        >>> model = ResNet10(out_indices=(0, 3))
        >>> [tuple(x.shape) for x in model(torch.rand(1, 3, 224, 224))]
        [(1, 64, 56, 56), (1, 512, 7, 7)]
    """

    arch_settings = {
        10: (BasicBlock, (1, 1, 1, 1)),
        **ResNet.arch_settings,
    }

    def __init__(self, depth=10, **kwargs):
        # ResNet's own KeyError does not list the choices.
        if depth not in self.arch_settings:
            raise KeyError(f'invalid depth={depth!r} for ResNet10, '
                           f'supported depths: {sorted(self.arch_settings)}')
        super().__init__(depth=depth, **kwargs)
