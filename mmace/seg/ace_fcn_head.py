"""ACE decode head for mmsegmentation: an ``FCNHead`` with K experts."""
import copy
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule, ModuleList
from mmseg.models.decode_heads import FCNHead
from mmseg.models.losses import accuracy
from mmseg.models.utils import resize
from mmseg.registry import MODELS
from mmseg.utils import ConfigType, SampleList
from torch import Tensor

from ..models.ace import ACEHeadMixin
from ..models.heads.lws import LWSConv2d
from ..models.ace.readout import AGGREGATIONS, aggregate_logits
from ..models.utils.checks import check_bool, check_choice, check_int

EXPERT1_LOSSES = ('decode', 'ace')


class SegExpert(BaseModule):
    """Expert ``j >= 2`` of :class:`ACEFCNHead`: last conv block + LWS.

    Args:
        block (nn.Module, optional): A fresh copy of the head's last conv
            block (None when the head has no conv block).
        channels (int): Channels of the block's output.
        num_classes (int): Number of classes.
        dropout_ratio (float): ``Dropout2d`` before the classifier, as in
            mmseg's ``cls_seg``.
        scale_bias (bool): See :class:`LWSConv2d`.
    """

    def __init__(self, block: Optional[nn.Module], channels: int,
                 num_classes: int, dropout_ratio: float,
                 scale_bias: bool = False):
        # Same classifier init as mmseg's BaseDecodeHead (conv_seg).
        super().__init__(init_cfg=dict(
            type='Normal', std=0.01, override=dict(name='conv_seg')))
        self.block = block if block is not None else nn.Identity()
        self.dropout = nn.Dropout2d(dropout_ratio) \
            if dropout_ratio > 0 else None
        self.conv_seg = LWSConv2d(channels, num_classes,
                                  scale_bias=scale_bias)

    def forward(self, x: Tensor) -> Tensor:
        x = self.block(x)
        if self.dropout is not None:
            x = self.dropout(x)
        return self.conv_seg(x)


def _fresh_copy(block: nn.Module) -> nn.Module:
    """A deep copy of ``block`` with its parameters drawn anew."""
    block = copy.deepcopy(block)
    for m in block.modules():
        if isinstance(m, ConvModule):
            m.init_weights()  # kaiming conv, norm weight 1 / bias 0
        elif isinstance(m, nn.modules.batchnorm._NormBase):
            m.reset_running_stats()
    return block


@MODELS.register_module()
class ACEFCNHead(ACEHeadMixin, FCNHead):
    """ACE (Cai et al., ICCV'21) version of mmseg's ``FCNHead``.

    **Experts.** Expert 1 *is* the stock ``FCNHead`` (same module names:
    ``convs``, ``conv_cat`` if ``concat_input``, ``conv_seg``), except that
    its 1x1 classifier ``conv_seg`` is an :class:`LWSConv2d` (a per-class
    scale, initialised to 1). So a stock ``FCNHead`` checkpoint loads into
    it (``conv_seg.scale``, ``experts.*`` and the count buffers are the only
    missing keys; mmengine loads non-strictly) and with ``num_experts=1``
    the head computes exactly what the stock head computes.

    Experts ``2..K`` live in the ``ModuleList`` ``experts``
    (``experts[j]`` is expert ``j + 2``, a :class:`SegExpert`). Each owns a
    freshly initialised copy of the head's *last* conv block (``conv_cat``
    with ``concat_input``, else ``convs[-1]``; none if ``num_convs=0``) and
    its own ``LWSConv2d`` classifier. It is fed the **detached** input of
    that block, so the losses of experts 2..K give exactly zero gradient
    to the backbone and to the head's earlier convs: the shared features
    are trained by expert 1 alone.

    **Planner.** ``class_counts`` are the training pixels per class
    (ignore_index excluded). Expert ``i`` targets the classes chosen by
    :func:`mmace.models.ace.plan_target_masks` (Eq. 1). The counts and
    masks are persistent buffers (``class_counts`` ``[C]``,
    ``target_masks`` ``[K, C]``), so a checkpoint alone suffices for
    inference.

    **Loss** (``loss`` / ``loss_by_feat``). Every expert's logits are
    upsampled to the label size, one expert at a time (bilinear, as
    ``BaseDecodeHead.loss_by_feat``), so at most one extra full-resolution
    map is built per step besides what autograd keeps:

    - expert 1 with ``expert1_loss='decode'`` (default): the head's
      ``loss_decode`` (stock CE, logged as ``loss_ce``), i.e. expert 1
      trains exactly as the stock head;
    - expert 1 with ``expert1_loss='ace'``: Eq. 4 (CE averaged over the
      non-ignored pixels), logged as ``loss_cls_e1``. Expert 1 targets all
      classes, so its Eq. 5 term is identically 0 and is not logged;
    - experts ``i >= 2``: per-pixel Eq. 4 (``loss_cls_e{i}``) and Eq. 5
      (``loss_com_e{i}``) over the pixels whose label is one of the
      expert's target classes, from ``loss_ace`` (an ``ACELoss``) with
      ``class_dim=1`` and ``ignore_index``. An expert whose classes are
      absent from the batch gets exactly 0.

    ``acc_seg`` is the pixel accuracy of the aggregated prediction.

    **Inference** (``forward``, ``predict``). The experts' logits are
    rescaled by Eq. 2 (:func:`mmace.models.ace.rescale_factors` on the
    effective LWS weights) and merged by
    :func:`mmace.models.ace.aggregate_logits`, at the head's
    resolution; ``predict_by_feat`` then upsamples as usual, so mmseg's
    ``predict``, ``slide`` inference and ``IoUMetric`` work unchanged.

    The default merge is ``'gated'``, not the paper's Eq. 3 average
    (``aggregation='avg'``): expert 1 keeps the probability it gives to the
    classes only it targets (the many-pixel ones) and the Eq. 3 average
    only re-ranks the classes the other experts share. Experts 2..K never
    train on pixels outside their classes, and a segmentation map is mostly
    such pixels (road, sky, building), where their logits are
    unconstrained: ``'avg'`` lets them paint such pixels with tail classes.
    The measured comparison is in configs/seg/README.md.

    Args:
        num_experts (int): ``K``, between 1 and ``num_classes``.
            Defaults to 3.
        class_counts (Sequence[int] | ndarray | Tensor | dict | str, optional):
            Training pixels per class (length ``num_classes``), or a dataset
            (config) counted by
            ``mmace.datasets.class_counts.resolve_class_counts``. ``'auto'``
            (filled by ``runner_type='LongTailRunner'``) or None leave them
            unset until :meth:`set_class_counts` or ``load_state_dict``.
            Defaults to ``'auto'``.
        rescale (str, optional): Eq. 2: ``'plain'`` (norm ratio),
            ``'squared'`` or None. Defaults to ``'plain'`` (as ``ACEHead``).
        norm_reduce (str): ``'sum'`` or ``'mean'``, see
            :func:`~mmace.models.ace.rescale_factors`.
            Defaults to ``'sum'``.
        norm_over (str): ``'target'`` or ``'all'``. Defaults to ``'target'``.
        aggregation (str): ``'gated'`` (see above), ``'avg'`` (Eq. 3),
            ``'max'`` or ``'concat'``. Defaults to ``'gated'``.
        scale_bias (bool): See :class:`LWSConv2d`. Defaults to False.
        expert1_loss (str): ``'decode'`` or ``'ace'``, see above.
            Defaults to ``'decode'``.
        readout_expert (int, optional): Diagnosis (Table 5): inference
            returns expert ``i``'s logits alone (1-based), its interfering
            classes set to -1e4 so they are never predicted. None (default)
            returns the ACE aggregate.
        rescale_inverse, norm_weight, planner, share_thresholds: The
            options shared by every ACE head, with the same meanings and
            defaults as in ``ACEHead`` (see
            :class:`mmace.models.ace.ACEHeadMixin`).
        loss_ace (dict | nn.Module): The experts' Eq. 4/5 losses, an
            :class:`mmace.models.losses.ACELoss` config (``loss_weight``,
            ``complement``, ``split_specific``), as ``ACEHead``'s ``loss``;
            its ``logit_adjust_tau`` (expert 1's) needs
            ``expert1_loss='ace'``. Defaults to ``dict(type='ACELoss')``.
        **kwargs: The arguments of mmseg's ``FCNHead`` / ``BaseDecodeHead``
            (``in_channels``, ``channels``, ``num_classes``, ``num_convs``,
            ``concat_input``, ``loss_decode``, ``ignore_index``, ...).
            ``sampler`` is not supported and ``out_channels`` must equal
            ``num_classes`` (no single-channel sigmoid mode).
    """

    counts_key = 'model.decode_head.num_classes'

    def __init__(self,
                 num_experts: int = 3,
                 class_counts: Union[Sequence[int], torch.Tensor, dict, str,
                                     None] = 'auto',
                 aggregation: str = 'gated',
                 scale_bias: bool = False,
                 expert1_loss: str = 'decode',
                 loss_ace: Union[dict, nn.Module] = dict(type='ACELoss'),
                 **kwargs):
        ace_options = self.pop_ace_options(kwargs)
        owner = type(self).__name__
        num_classes = check_int(owner, 'num_classes',
                                kwargs.get('num_classes'), 2)
        self.init_num_experts(num_experts, num_classes)
        out_channels = kwargs.get('out_channels')
        if out_channels is not None and out_channels != num_classes:
            raise ValueError(
                f'{owner}: out_channels={out_channels} must equal '
                f'num_classes={num_classes} (ACE needs one softmax logit '
                'per class)')
        if kwargs.get('sampler') is not None:
            raise ValueError(f'{owner}: a pixel sampler is not supported '
                             '(ACE losses use every labelled pixel)')
        check_choice(owner, 'aggregation', aggregation, AGGREGATIONS)
        check_choice(owner, 'expert1_loss', expert1_loss, EXPERT1_LOSSES)
        check_bool(owner, 'scale_bias', scale_bias)
        super().__init__(**kwargs)
        self.init_ace_options(**ace_options)
        self.loss_ace = self.build_ace_loss(loss_ace, 'loss_ace')
        if expert1_loss == 'decode':
            self.refuse_logit_adjust(
                'loss_ace', "expert 1 trains with loss_decode "
                "(expert1_loss='decode'; 'ace' trains it with loss_ace)")
        self.aggregation = aggregation
        self.expert1_loss = expert1_loss

        # Expert 1: the stock head with an LWS classifier.
        self.conv_seg = LWSConv2d(self.channels, num_classes,
                                  scale_bias=scale_bias)
        last = self._last_block()
        self.experts = ModuleList(
            SegExpert(None if last is None else _fresh_copy(last),
                      self.channels, num_classes, self.dropout_ratio,
                      scale_bias) for _ in range(num_experts - 1))

        self.init_class_counts(class_counts)

    # ----------------------------------------------------------- forward --
    def _last_block(self) -> Optional[nn.Module]:
        """The block each expert copies: ``conv_cat`` or ``convs[-1]``."""
        if self.concat_input:
            return self.conv_cat
        if self.num_convs > 0:
            return self.convs[-1]
        return None

    def _last_block_input(self, x: Tensor) -> Tensor:
        """The shared feature that enters the last conv block."""
        if self.concat_input:
            return torch.cat([x, self.convs(x)], dim=1)
        if self.num_convs > 1:
            return self.convs[:-1](x)
        return x

    def expert_logits(self, inputs: Tuple[Tensor]) -> List[Tensor]:
        """``K`` per-pixel logits ``[N, C, h, w]`` at the head's resolution.

        Expert 1's equal ``FCNHead.forward`` on the same weights; experts
        ``2..K`` see the shared feature detached.
        """
        shared = self._last_block_input(self._transform_inputs(inputs))
        last = self._last_block()
        logits = [self.cls_seg(shared if last is None else last(shared))]
        if self.num_experts > 1:
            detached = shared.detach()
            logits.extend(expert(detached) for expert in self.experts)
        return logits

    def rescale_factors(self) -> Optional[Tensor]:
        """``[K]`` Eq. 2 factors of the current weights (None: no rescale)."""
        convs = [self.conv_seg] + [e.conv_seg for e in self.experts]
        return self.compute_rescale_factors(
            [c.effective_weight for c in convs], [c.weight for c in convs])

    def aggregate(self, logits: List[Tensor]) -> Tensor:
        """Rescale (Eq. 2) and merge (Eq. 3 or a variant) expert logits."""
        if len(logits) == 1:
            return logits[0]  # K = 1: the stock head's logits, bit for bit
        return aggregate_logits(logits, self.target_masks,
                                self.rescale_factors(),
                                aggregation=self.aggregation,
                                class_dim=1)

    def forward(self, inputs: Tuple[Tensor]) -> Tensor:
        """The aggregated logits ``[N, C, h, w]`` (Eq. 2 and 3), or expert
        ``readout_expert``'s own."""
        self._check_counts()
        logits = self.expert_logits(inputs)
        if self.readout_expert is None:
            return self.aggregate(logits)
        return self.readout_logits(logits)

    # -------------------------------------------------------------- loss --
    def loss(self, inputs: Tuple[Tensor], batch_data_samples: SampleList,
             train_cfg: ConfigType) -> dict:
        """Per-expert losses, see the class docstring."""
        self._check_counts()
        return self.loss_by_feat(
            self.expert_logits(inputs), batch_data_samples)

    def loss_by_feat(self, seg_logits: Union[Tensor, List[Tensor]],
                     batch_data_samples: SampleList) -> dict:
        """Compute the losses from the K experts' low-resolution logits.

        Args:
            seg_logits (list[Tensor] | Tensor): The ``K`` logits of
                :meth:`expert_logits` (a single tensor is expert 1's).
            batch_data_samples (list[SegDataSample]): With ``gt_sem_seg``.

        Returns:
            dict[str, Tensor]: See the class docstring.
        """
        logits = [seg_logits] if torch.is_tensor(seg_logits) \
            else list(seg_logits)
        if len(logits) != self.num_experts:
            raise ValueError(f'got {len(logits)} expert logits for '
                             f'num_experts={self.num_experts}')
        seg_label = self._stack_batch_gt(batch_data_samples)
        size = seg_label.shape[2:]
        seg_label = seg_label.squeeze(1)
        losses = dict()
        # One expert at a time: only one upsampled map is built per step.
        for i, expert_logits in enumerate(logits):
            up = resize(
                input=expert_logits,
                size=size,
                mode='bilinear',
                align_corners=self.align_corners)
            if i == 0 and self.expert1_loss == 'decode':
                decode = self.loss_decode if isinstance(
                    self.loss_decode, nn.ModuleList) else [self.loss_decode]
                for loss_decode in decode:
                    value = loss_decode(
                        up, seg_label, weight=None,
                        ignore_index=self.ignore_index)
                    name = loss_decode.loss_name
                    losses[name] = losses[name] + value \
                        if name in losses else value
                continue
            terms = self.loss_ace([up],
                                  seg_label,
                                  self.target_masks[i:i + 1],
                                  class_dim=1,
                                  ignore_index=self.ignore_index,
                                  first_expert=i + 1)
            # Expert 1 targets every class: its Eq. 5 term is 0 by design.
            terms.pop('loss_com_e1', None)
            losses.update(terms)
            del up, terms
        with torch.no_grad():
            merged = resize(
                input=self.aggregate([x.detach() for x in logits]),
                size=size,
                mode='bilinear',
                align_corners=self.align_corners)
            losses['acc_seg'] = accuracy(
                merged, seg_label, ignore_index=self.ignore_index)
        return losses
