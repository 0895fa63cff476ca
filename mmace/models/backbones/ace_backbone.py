import copy
from typing import Optional, Tuple, Union

import torch
import torch.nn as nn
from mmengine.model import initialize
from mmengine.model.weight_init import constant_init
from mmengine.runner.checkpoint import CheckpointLoader, load_state_dict
from mmpretrain.models.backbones.base_backbone import BaseBackbone
from mmpretrain.registry import MODELS
from torch.nn.modules.batchnorm import _BatchNorm

from ..utils.checks import check_bool, check_int


@MODELS.register_module()
class ACEBackbone(BaseBackbone):
    """Shared trunk plus K expert branches of ACE (Cai et al., ICCV'21).

    Wraps a ResNet-style backbone (one whose stages are listed in
    ``res_layers``: mmpretrain's ResNet, ResNetV1c/d, ResNeXt, ResNet_CIFAR,
    mmace's CIFARResNet and ResNet10, ...). The last ``num_blocks`` blocks
    of its last stage are removed from it (the whole stage by default) and
    duplicated into K experts (``self.experts``, a ``ModuleList`` of
    ``nn.Sequential``); the rest is the shared trunk (``self.trunk``).
    The paper duplicates "the last residual block"; the whole last stage is
    the default here and ``num_blocks`` makes it configurable (the two are
    compared in configs/ace/README.md).

    The forward pass returns one feature map per expert. Experts 2..K read a
    detached copy of the shared feature by default, so only expert 1's loss
    updates the trunk (Sec. 3.4): the experts' sub-batches overlap, and
    letting all of them correct the trunk would count the tail errors
    several times, i.e. re-weight the representation learning.

    Each expert gets its own initialisation in :meth:`init_weights`: the
    wrapped backbone's ``init_cfg`` (and ``zero_init_residual``) is applied
    to every expert separately. With a ``Pretrained`` ``init_cfg`` of the
    wrapped backbone, every expert starts from the checkpoint's weights of
    the blocks it duplicates. With an ``init_cfg`` of this module itself,
    that one initialises everything, experts included.

    In an ``ImageClassifier`` the parameters are named
    ``backbone.trunk.*`` (shared) and ``backbone.experts.{i}.*`` (0-based
    expert ``i``), the prefix ``ACEOptimWrapperConstructor`` scales.

    Args:
        backbone (dict | nn.Module): Config (or instance) of the wrapped
            ResNet-style backbone. Its ``out_indices`` is replaced by the
            last remaining stage.
        num_experts (int): ``K``. Defaults to 3.
        num_blocks (int, optional): How many of the last stage's final blocks
            each expert duplicates; None means the whole stage.
            Defaults to None.
        detach_experts (bool): Whether experts 2..K get the detached shared
            feature (paper). False is an ablation where every expert's loss
            reaches the trunk. Defaults to True.
        init_cfg (dict | list[dict], optional): Initialization config of the
            whole module. Defaults to None.
    """

    def __init__(self,
                 backbone: Union[dict, nn.Module],
                 num_experts: int = 3,
                 num_blocks: Optional[int] = None,
                 detach_experts: bool = True,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg)
        owner = type(self).__name__
        num_experts = check_int(owner, 'num_experts', num_experts, 1)
        num_blocks = check_int(owner, 'num_blocks', num_blocks,
                               allow_none=True)
        check_bool(owner, 'detach_experts', detach_experts)
        trunk = backbone if isinstance(backbone, nn.Module) \
            else MODELS.build(backbone)
        res_layers = list(getattr(trunk, 'res_layers', None) or [])
        if not res_layers:
            raise ValueError(
                f'cannot split the last stage of {type(trunk).__name__}: '
                'ACEBackbone needs a ResNet-style backbone that lists its '
                'stages in `res_layers` (ResNet, ResNetV1c/d, ResNeXt, '
                'ResNet_CIFAR, CIFARResNet, ResNet10, ...)')
        stage_name = res_layers[-1]
        stage = getattr(trunk, stage_name)
        total = len(stage)
        n = total if num_blocks is None else num_blocks
        if not 1 <= n <= total:
            raise ValueError(
                f'num_blocks={num_blocks} must be between 1 and the {total} '
                f'blocks of the last stage {stage_name!r} of '
                f'{type(trunk).__name__}')
        if n == total and len(res_layers) == 1:
            raise ValueError(
                f'{type(trunk).__name__} has a single stage: moving all of it '
                'into the experts leaves no shared trunk; set num_blocks < '
                f'{total}')
        if getattr(trunk, 'frozen_stages', -1) >= len(res_layers):
            raise ValueError(
                f'frozen_stages={trunk.frozen_stages} would freeze the last '
                f'stage {stage_name!r}, whose blocks become the experts')

        tail = list(stage)[total - n:]
        self.experts = nn.ModuleList(
            nn.Sequential(*copy.deepcopy(tail)) for _ in range(num_experts))
        if n == total:
            delattr(trunk, stage_name)
            trunk.res_layers = res_layers[:-1]
        else:
            del stage[total - n:]
        trunk.out_indices = (len(trunk.res_layers) - 1, )
        self.trunk = trunk
        self.num_experts = num_experts
        self.num_blocks = n
        self.detach_experts = detach_experts
        # Where the experts' blocks came from, for Pretrained checkpoints.
        self._stage_name = stage_name
        self._first_block = total - n

        # Deep copies are identical: re-sample PyTorch's default init so the
        # experts differ even before init_weights().
        for expert in self.experts:
            for m in expert.modules():
                if m is not expert and hasattr(m, 'reset_parameters'):
                    m.reset_parameters()

    def init_weights(self):
        first_call = not self.is_init
        super().init_weights()  # own init_cfg and the trunk's init_weights
        if first_call and self.init_cfg is None:
            self._init_experts()

    def _init_experts(self):
        """Initialise each expert like the trunk, independently."""
        cfgs = self.trunk.init_cfg or []
        cfgs = [cfgs] if isinstance(cfgs, dict) else list(cfgs)
        pretrained = [c for c in cfgs if c['type'] == 'Pretrained']
        others = [c for c in cfgs if c['type'] != 'Pretrained']
        for expert in self.experts:
            if others:
                initialize(expert, others)
            if getattr(self.trunk, 'zero_init_residual', False) \
                    and not pretrained:
                # Residual branches start at 0, as ResNet.init_weights does.
                for block in expert:
                    for name in ('norm3', 'norm2'):  # Bottleneck, BasicBlock
                        if hasattr(block, name):
                            constant_init(getattr(block, name), 0)
                            break
        for cfg in pretrained:
            self._load_pretrained_experts(cfg)

    def _load_pretrained_experts(self, cfg: dict):
        """Load the duplicated blocks' checkpoint weights into every expert."""
        ckpt = CheckpointLoader.load_checkpoint(
            cfg['checkpoint'], map_location=cfg.get('map_location', 'cpu'))
        state = ckpt.get('state_dict', ckpt)
        prefix = cfg.get('prefix') or ''
        if prefix and not prefix.endswith('.'):
            prefix += '.'
        source = f'{prefix}{self._stage_name}.'
        expert_state = dict()
        for key, value in state.items():
            key = key[7:] if key.startswith('module.') else key
            if not key.startswith(source):
                continue
            index, rest = key[len(source):].split('.', 1)
            j = int(index) - self._first_block
            if 0 <= j < self.num_blocks:
                expert_state[f'{j}.{rest}'] = value
        for expert in self.experts:
            load_state_dict(expert, expert_state, strict=False,
                            logger='current')

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor]:
        """Returns a tuple of K expert feature maps."""
        shared = self.trunk(x)[-1]
        outs = []
        for i, expert in enumerate(self.experts):
            detach = i > 0 and self.detach_experts
            outs.append(expert(shared.detach() if detach else shared))
        return tuple(outs)

    def train(self, mode: bool = True):
        super().train(mode)  # the trunk handles its own norm_eval/frozen
        if mode and getattr(self.trunk, 'norm_eval', False):
            for m in self.experts.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self
