"""ACE for two-stage detectors: an mmdet ``ConvFCBBoxHead`` with K experts.

Ally Complementary Experts (Cai et al., ICCV'21) put into the RoI box head of
Faster R-CNN / Cascade R-CNN. The background class is not a planner class:
expert 1 is the stock head, experts 2..K are foreground-only classifiers on
detached RoI features, and at test time expert 1's background probability is
combined with the Eq. 2/3 aggregate over the foreground classes.
"""
import copy
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule, ModuleList
from torch import Tensor

from mmdet.models.roi_heads.bbox_heads import ConvFCBBoxHead
from mmdet.registry import MODELS

from ..models.heads.lws import LWSLinear
from ..models.ace import ACEHeadMixin
from ..models.ace.readout import aggregate_logits
from ..models.utils.checks import check_bool


class DetExpert(BaseModule):
    """One extra expert (2..K) of :class:`ACEConvFCBBoxHead`.

    A copy of the layers of the classification path after the copy point
    (``convs`` then ``fcs``, each fc followed by ReLU) and an
    :class:`LWSLinear` classifier ``fc_cls`` over the ``C`` foreground classes
    (no background row). It is fed with detached features, so nothing it
    computes reaches the shared layers.

    Args:
        convs (nn.ModuleList): Conv layers (``ConvModule``), may be empty.
        fcs (nn.ModuleList): ``nn.Linear`` layers, may be empty.
        in_dim (int): Feature size entering ``fc_cls``.
        num_classes (int): ``C``, foreground classes.
        avg_pool (nn.Module, optional): Pooling applied to 4-D features
            before the fcs (the head's ``with_avg_pool``).
        scale_bias (bool): See :class:`LWSLinear`.
    """

    def __init__(self, convs: nn.ModuleList, fcs: nn.ModuleList, in_dim: int,
                 num_classes: int, avg_pool: Optional[nn.Module] = None,
                 scale_bias: bool = False):
        # Same init as the stock layers: Xavier-uniform fcs (ConvFCBBoxHead)
        # and N(0, 0.01) classifier (BBoxHead's fc_cls); ConvModules init
        # themselves. The LWS scales start at 1.
        super().__init__(init_cfg=[
            dict(type='Xavier', distribution='uniform',
                 override=dict(name='fcs')),
            dict(type='Normal', std=0.01, override=dict(name='fc_cls'))
        ])
        self.convs = convs
        self.fcs = fcs
        self.avg_pool = avg_pool
        self.fc_cls = LWSLinear(in_dim, num_classes, scale_bias=scale_bias)

    def forward(self, x: Tensor) -> Tensor:
        """``[N, C]`` foreground logits of detached features ``x``."""
        for conv in self.convs:
            x = conv(x)
        if x.dim() > 2:
            if self.avg_pool is not None:
                x = self.avg_pool(x)
            x = x.flatten(1)
        for fc in self.fcs:
            x = F.relu(fc(x))
        return self.fc_cls(x)


@MODELS.register_module()
class ACEConvFCBBoxHead(ACEHeadMixin, ConvFCBBoxHead):
    r"""ACE version of mmdet's ``ConvFCBBoxHead`` (drop-in, any arrangement).

    .. code-block:: none

                                  /-> cls convs/fcs -> fc_cls (expert 1, C+1)
        shared convs/fcs --------+-> reg convs/fcs -> fc_reg (one box branch)
                                  \-> detach -> experts[j]: copied cls layers
                                                -> LWS (C)
        without a cls branch (Shared2FC): detach the input of the last shared
        fc -> experts[j]: copy of that fc -> LWS (C)

    **Experts.** Expert 1 *is* the stock head: same module names
    (``shared_convs``, ``shared_fcs``, ``cls_convs``, ``cls_fcs``, ``fc_cls``,
    ``reg_*``, ``fc_reg``), same ``C+1``-way classifier, same ``loss_cls``, so
    a stock checkpoint loads into it. Experts 2..K are
    ``experts[0..K-2]`` (:class:`DetExpert`). Each owns a copy of the last
    layers of the classification path:

    - if the head has a classification branch (``num_cls_convs`` or
      ``num_cls_fcs`` > 0), a copy of the whole branch (``cls_convs`` and
      ``cls_fcs``), fed with the detached output of the shared part;
    - otherwise (``Shared2FCBBoxHead``, ``Shared4Conv1FCBBoxHead``: the
      classifier sits on the last shared fc), a copy of the **last shared
      fc**, fed with the detached input of that fc (e.g. the ReLU output of
      ``fc6`` in Shared2FC; the copies are ``fc7``'s). Heads with neither
      (no layer to copy) are rejected.

    Its classifier is an :class:`LWSLinear` over the ``C`` foreground classes
    only. Box regression stays the single stock branch (``fc_reg``).

    **Training.** Expert 1: the stock ``loss_cls`` (``'loss_cls'``,
    ``'acc'``) and ``loss_bbox``. Expert ``j >= 2``: Eq. 4 (``loss_cls_e{j}``)
    and Eq. 5 (``loss_com_e{j}``) of
    :class:`mmace.models.losses.ACELoss` on the positive RoIs (label in
    ``0..C-1``) whose label is one of its target classes (planner Eq. 1,
    :func:`plan_target_masks` on the foreground ``class_counts``). The
    sampler's ``label_weights`` are respected: a RoI of weight ``w`` counts
    ``w`` times (a soft target ``w * onehot``), i.e. each term is the
    ``w``-weighted mean over the expert's sub-batch; weight 0 drops the RoI.
    Because experts see detached features, their losses train only their
    own layers.

    **Test-time scores (exact rule).** Let ``z_1`` be expert 1's ``C+1``
    logits (background last), ``z_j`` (``j >= 2``) expert ``j``'s ``C``
    foreground logits, ``M`` the ``[K, C]`` target masks and ``f`` the
    Eq. 2 factors :func:`rescale_factors` of the effective classifier
    weights (expert 1: the ``C`` foreground rows of ``fc_cls.weight``;
    expert ``j``: ``scale * W`` of its LWS layer; ``rescale='plain'``,
    ``norm_reduce='sum'``, ``norm_over='target'`` by default, as
    :class:`ACEHead`). Then

    .. math::

        p_{bg} &= \mathrm{softmax}(z_1)_{C} \\
        o^c &= \frac{1}{|S^c|} \sum_{i \in S^c} f_i z_i^c
               \quad (S^c = \{i : M_{ic}\},\ z_1^c \text{ its fg part}) \\
        p_c &= (1 - p_{bg})\ \mathrm{softmax}(o)_c, \quad c < C

    so ``p`` (``C+1`` entries, background last) sums to 1 and expert 1 alone
    decides object vs background while the experts re-rank the classes.
    In eval mode ``forward`` returns ``log p`` as ``cls_score`` (computed in
    log space: ``log(1 - p_bg) = logsumexp(z_1[:C]) - logsumexp(z_1)``), so
    mmdet's unchanged ``predict_by_feat`` (softmax, ``score_thr``, NMS,
    ``max_per_img``) works on ``softmax(log p) = p``; cascade heads get
    ``log p`` of each stage (``argmax`` for box refinement, stage average).
    With ``num_experts=1`` the head *is* the stock head: ``forward`` returns
    the stock logits, identical losses and detections.

    In training mode ``forward`` returns ``cls_score`` as
    ``cat([z_1, z_2, .., z_K], dim=1)`` (``C+1 + (K-1)*C`` columns);
    :meth:`loss`, :meth:`refine_bboxes` and :meth:`predict_by_feat` split it
    (the latter two turn it into ``log p``).

    Args:
        num_experts (int): ``K`` (expert 1 included), at most ``num_classes``.
            Defaults to 3.
        class_counts (Sequence[int] | ndarray | Tensor | dict | str, optional):
            Training instances per foreground class (``num_classes`` long,
            crowd excluded), or a dataset (config) for
            ``mmace.datasets.class_counts.resolve_class_counts``. ``'auto'``
            (filled by ``runner_type='LongTailRunner'``) or None leave them
            unset until :meth:`set_class_counts` / ``load_state_dict``; a head
            with ``K > 1`` refuses to run without them. Defaults to
            ``'auto'``.
        rescale (str, optional): Eq. 2: ``'plain'``, ``'squared'`` or None.
            Defaults to ``'plain'``.
        norm_reduce (str): ``'sum'`` or ``'mean'`` (see
            :func:`rescale_factors`). Defaults to ``'sum'``.
        norm_over (str): ``'target'`` or ``'all'``. Defaults to ``'target'``.
        scale_bias (bool): Whether the LWS scale multiplies the bias too.
            Defaults to False.
        rescale_inverse, norm_weight, planner, share_thresholds,
            readout_expert: The options shared by every ACE head, with the
            same meanings and defaults as in ``ACEHead`` (see
            :class:`mmace.models.ace.ACEHeadMixin`).
        loss_ace (dict | nn.Module): The losses of experts 2..K, an
            :class:`mmace.models.losses.ACELoss` config (``loss_weight``,
            ``complement``), as ``ACEHead``'s ``loss``. Expert 1 keeps the
            stock ``loss_cls``, so ``logit_adjust_tau`` (expert 1's) is
            refused. Defaults to ``dict(type='ACELoss')``.
        **kwargs: ``ConvFCBBoxHead`` / ``BBoxHead`` arguments.
    """

    counts_key = 'model.roi_head.bbox_head.num_classes'

    def __init__(self,
                 *args,
                 num_experts: int = 3,
                 class_counts: Union[Sequence[int], Tensor, dict, str,
                                     None] = 'auto',
                 scale_bias: bool = False,
                 loss_ace: Union[dict, nn.Module] = dict(type='ACELoss'),
                 **kwargs) -> None:
        ace_options = self.pop_ace_options(kwargs)
        super().__init__(*args, **kwargs)
        owner = type(self).__name__
        # num_classes: the foreground classes.
        num_experts = self.init_num_experts(num_experts, self.num_classes)
        self.init_ace_options(**ace_options)
        check_bool(owner, 'scale_bias', scale_bias)
        self.loss_ace = self.build_ace_loss(loss_ace, 'loss_ace')
        self.refuse_logit_adjust(
            'loss_ace', 'expert 1 of a detection head is the stock head, '
            'trained by loss_cls (loss_ace trains experts 2..K)')

        has_cls_branch = self.num_cls_convs + self.num_cls_fcs > 0
        # Copy the cls branch, else the last shared fc.
        self.copy_last_shared_fc = not has_cls_branch
        # mmengine's ModuleList, so init_weights reaches the experts.
        self.experts = ModuleList()
        if num_experts > 1:
            if not self.with_cls:
                raise ValueError(f'{owner}: num_experts > 1 needs with_cls')
            if self.custom_cls_channels:
                raise ValueError(
                    f'{owner}: num_experts > 1 needs the stock C+1-way '
                    'softmax classifier; loss_cls '
                    f'{type(self.loss_cls).__name__} has custom channels')
            if not has_cls_branch and self.num_shared_fcs == 0:
                raise ValueError(
                    f'{owner}: the experts copy the classification branch '
                    '(cls_convs/cls_fcs) or the last shared fc, and this '
                    'head has neither (num_cls_convs=num_cls_fcs='
                    'num_shared_fcs=0)')
            for _ in range(num_experts - 1):
                if has_cls_branch:
                    convs = copy.deepcopy(self.cls_convs)
                    fcs = copy.deepcopy(self.cls_fcs)
                else:
                    convs = nn.ModuleList()
                    fcs = nn.ModuleList([copy.deepcopy(self.shared_fcs[-1])])
                pool = self.avg_pool if self.with_avg_pool else None
                expert = DetExpert(convs, fcs, self.cls_last_dim,
                                   self.num_classes, pool, scale_bias)
                for m in expert.modules():  # fresh weights, not copies
                    if m is not expert and hasattr(m, 'reset_parameters'):
                        m.reset_parameters()
                self.experts.append(expert)

        self.init_class_counts(class_counts)

    # ----------------------------------------------------------- forward
    def expert_entry(self) -> nn.Module:
        """The module whose input the experts read: the last shared fc
        (which they copy) or the first layer of the cls branch."""
        if self.copy_last_shared_fc:
            return self.shared_fcs[-1]
        return self.cls_convs[0] if len(self.cls_convs) else self.cls_fcs[0]

    def forward(self, x: Tensor) -> tuple:
        """``(cls_score, bbox_pred)``; see the class docstring for
        ``cls_score`` (stock logits for ``K = 1``)."""
        if self.num_experts == 1:
            return super().forward(x)
        # mmdet's own forward, with the experts' input taken on the way.
        taken = []
        handle = self.expert_entry().register_forward_pre_hook(
            lambda module, args: taken.append(args[0]))
        try:
            cls_score, bbox_pred = super().forward(x)
        finally:
            handle.remove()
        expert_in = taken[0]
        self._check_counts()
        feats = expert_in.detach()
        logits = [expert(feats) for expert in self.experts]
        if self.training:
            return torch.cat([cls_score] + logits, dim=1), bbox_pred
        return self.ace_log_scores(cls_score, logits), bbox_pred

    # ----------------------------------------------------------- scores
    @property
    def raw_cls_channels(self) -> int:
        """Columns of the training-mode ``cls_score``."""
        return self.num_classes + 1 + (self.num_experts - 1) * \
            self.num_classes

    def split_cls_score(self, cls_score: Tensor) -> Tuple[Tensor, List]:
        """Training-mode ``cls_score`` -> (``z_1`` ``[N, C+1]``, K-1 x
        ``[N, C]``)."""
        c = self.num_classes
        if cls_score.size(-1) != self.raw_cls_channels:
            raise ValueError(
                f'cls_score has {cls_score.size(-1)} columns, expected '
                f'{self.raw_cls_channels} (C+1 + (K-1)*C with C={c}, '
                f'K={self.num_experts}): was it produced in training mode?')
        parts = cls_score.split([c + 1] + [c] * (self.num_experts - 1),
                                dim=-1)
        return parts[0], list(parts[1:])

    def rescale_factors(self) -> Optional[Tensor]:
        """``[K]`` Eq. 2 factors of the current weights (None: no rescale).

        Expert 1's effective weight is its ``C`` foreground rows of
        ``fc_cls.weight``; expert ``j``'s is its LWS ``scale * W``.
        """
        first = self.fc_cls.weight[:self.num_classes]
        return self.compute_rescale_factors(
            [first] + [e.fc_cls.effective_weight for e in self.experts],
            [first] + [e.fc_cls.weight for e in self.experts])

    def aggregate(self, cls_score: Tensor, expert_logits: List[Tensor]) \
            -> Tensor:
        """Eq. 2/3 aggregate ``o`` ``[N, C]`` over the foreground classes;
        with ``readout_expert``, that expert's own logits."""
        logits = [cls_score[:, :self.num_classes]] + list(expert_logits)
        if self.readout_expert is not None:
            return self.readout_logits(logits)
        return aggregate_logits(logits, self.target_masks,
                                self.rescale_factors(), aggregation='avg')

    def ace_log_scores(self, cls_score: Tensor,
                       expert_logits: List[Tensor]) -> Tensor:
        """``log p`` ``[N, C+1]`` of the class docstring (background last)."""
        c = self.num_classes
        z1 = cls_score.float()
        log_fg = torch.logsumexp(z1[:, :c], dim=1, keepdim=True) - \
            torch.logsumexp(z1, dim=1, keepdim=True)  # log(1 - p_bg)
        log_bg = z1.log_softmax(dim=1)[:, c:]
        agg = self.aggregate(z1, [z.float() for z in expert_logits])
        out = torch.cat([log_fg + agg.log_softmax(dim=1), log_bg], dim=1)
        return out.to(cls_score.dtype)

    def _to_log_scores(self, cls_score: Optional[Tensor]):
        """Training-mode (raw) ``cls_score`` -> ``log p``; else unchanged."""
        if self.num_experts == 1 or cls_score is None or \
                cls_score.size(-1) != self.raw_cls_channels:
            return cls_score
        z1, logits = self.split_cls_score(cls_score)
        return self.ace_log_scores(z1, logits)

    # ------------------------------------------------------------- loss
    def loss(self,
             cls_score: Tensor,
             bbox_pred: Tensor,
             rois: Tensor,
             labels: Tensor,
             label_weights: Tensor,
             bbox_targets: Tensor,
             bbox_weights: Tensor,
             reduction_override: Optional[str] = None) -> dict:
        """Stock losses of expert 1 plus Eq. 4/5 of experts 2..K.

        With ``reduction_override`` other than None/'mean' (OHEM's per-RoI
        losses) only the stock terms are returned.
        """
        logits = []
        if self.num_experts > 1 and cls_score is not None:
            cls_score, logits = self.split_cls_score(cls_score)
        losses = super().loss(cls_score, bbox_pred, rois, labels,
                              label_weights, bbox_targets, bbox_weights,
                              reduction_override)
        if not logits or reduction_override not in (None, 'mean'):
            return losses
        self._check_counts()
        pos = (labels >= 0) & (labels < self.num_classes)
        weights = label_weights[pos].float()
        targets = F.one_hot(labels[pos], self.num_classes).float() * \
            weights[:, None]
        losses.update(
            self.loss_ace([z[pos] for z in logits],
                          targets,
                          self.target_masks[1:],
                          first_expert=2))
        return losses

    # ------------------------------------------------------- prediction
    def predict_by_feat(self, rois, cls_scores, bbox_preds, batch_img_metas,
                        rcnn_test_cfg=None, rescale: bool = False):
        """mmdet's ``predict_by_feat`` on the ACE scores.

        Eval-mode ``cls_scores`` are already ``log p`` and pass through;
        training-mode (raw, concatenated) ones are converted first.
        """
        cls_scores = tuple(self._to_log_scores(s) for s in cls_scores)
        return super().predict_by_feat(rois, cls_scores, bbox_preds,
                                       batch_img_metas, rcnn_test_cfg,
                                       rescale)

    def refine_bboxes(self, sampling_results, bbox_results: dict,
                      batch_img_metas: List[dict]):
        """Cascade refinement on the ACE scores (``log p``)."""
        bbox_results = dict(bbox_results)
        bbox_results['cls_score'] = self._to_log_scores(
            bbox_results['cls_score'])
        return super().refine_bboxes(sampling_results, bbox_results,
                                     batch_img_metas)


@MODELS.register_module()
class ACEShared2FCBBoxHead(ACEConvFCBBoxHead):
    """ACE ``Shared2FCBBoxHead``: two shared fcs (``fc6``, ``fc7``).

    The experts copy the last shared fc (``fc7``) and read the detached
    output of ``fc6``; see :class:`ACEConvFCBBoxHead`.
    """

    def __init__(self, fc_out_channels: int = 1024, *args, **kwargs) -> None:
        super().__init__(
            *args,
            num_shared_convs=0,
            num_shared_fcs=2,
            num_cls_convs=0,
            num_cls_fcs=0,
            num_reg_convs=0,
            num_reg_fcs=0,
            fc_out_channels=fc_out_channels,
            **kwargs)
