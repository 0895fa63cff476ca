from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmpretrain.evaluation.metrics import Accuracy
from mmpretrain.models.heads import ClsHead
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from ..ace import ACEHeadMixin
from ..ace.readout import AGGREGATIONS, aggregate_logits, expert_probs
from ..utils.checks import check_bool, check_choice, check_int
from .lws import LWSLinear


@MODELS.register_module()
class ACEHead(ACEHeadMixin, ClsHead):
    """ACE head: K expert classifiers, their losses and their aggregation.

    Ally Complementary Experts (Cai et al., ICCV'21). The head takes the K
    pooled features of :class:`ACEBackbone` (through e.g.
    ``GlobalAveragePooling``), gives each to its own :class:`LWSLinear`
    classifier and:

    - in ``loss``, trains expert ``i`` on its sub-batch (the samples whose
      label is one of its target classes, Eq. 1) with cross-entropy (Eq. 4)
      and the complement loss (Eq. 5), logged per expert as
      ``loss_cls_e{i}`` / ``loss_com_e{i}`` (1-based);
    - in ``forward``/``predict``, rescales each expert's logits by its
      weight norm (Eq. 2) and averages, per class, over the experts that
      target it (Eq. 3).

    The training class counts and the planner's target masks are persistent
    buffers (``class_counts`` ``[C]`` float, ``target_masks`` ``[K, C]``
    bool), so a checkpoint alone is enough for inference.

    Args:
        num_classes (int): Number of categories.
        in_channels (int): Number of channels of each expert's feature.
        num_experts (int): ``K``, the number of experts; must equal
            ``num_experts`` of the backbone. Defaults to 3.
        class_counts (Sequence[int] | ndarray | Tensor | dict | str, optional):
            Training samples per class: the counts, or a dataset (config)
            counted by ``mmace.datasets.class_counts.resolve_class_counts``.
            ``'auto'`` (filled by ``runner_type='LongTailRunner'``) or None
            leave them unset until :meth:`set_class_counts` or
            ``load_state_dict``. Defaults to ``'auto'``.
        rescale (str, optional): Logit rescaling of Eq. 2: ``'plain'``
            (norm ratio), ``'squared'`` (squared norm ratio, the paper's
            formula) or None (Table 7 (4)). Defaults to ``'plain'``.
        norm_reduce (str): How Eq. 2 reduces the rows of an expert's
            effective LWS weight (see
            :func:`mmace.models.ace.rescale_factors`): ``'sum'`` (the
            Frobenius norm over the rows) or ``'mean'`` (per class: the mean
            of the rows' norms). Defaults to ``'sum'``: the per-class
            reading lets the tail experts, whose rows grow stronger than
            expert 1's, outvote the head classes, and the squared sum
            shrinks the last expert most; the plain sum sits between. The
            measured comparison of the readings is in configs/ace/README.md
            (``tools/analysis_tools/readouts.py`` reproduces it).
        norm_over (str): Rows of the weight norm in Eq. 2: ``'target'`` (the
            expert's target classes) or ``'all'``. Defaults to ``'target'``.
        rescale_inverse (bool): Eq. 2 in the released code's direction,
            :math:`f_i = \\|W_1\\| / \\|W_i\\|` (with ``rescale='plain'``,
            ``norm_reduce='mean'``, ``norm_weight='raw'`` it is exactly the
            authors' ``valid_model``); False is the printed direction
            :math:`\\|W_i\\| / \\|W_1\\|`. Defaults to False;
            ``configs/ace/ace_r32_cifar10-lt-100.py`` uses the inverse
            reading with the share planner (configs/ace/README.md).
        norm_weight (str): Which weight Eq. 2 measures: ``'scaled'`` (the
            LWS-scaled weight the logits use) or ``'raw'`` (without the LWS
            scale, as the released code). Defaults to ``'scaled'``.
        scale_bias (bool): Whether each LWS scale also multiplies its bias
            (Decoupling's LWS scales the whole logit); see
            :class:`LWSLinear`. Unscaled by default: then the scale acts on
            the weight rows alone, which is what Eq. 2 measures.
            Defaults to False.
        aggregation (str): ``'avg'`` (Eq. 3), ``'max'`` (Table 7 (2)) or
            ``'concat'`` (Table 7 (3)). Defaults to ``'avg'``.
        planner (str): Eq. 1: ``'classes'`` (each later expert drops the
            next ``C / K`` most frequent classes, as printed) or ``'share'``
            (the released code: expert ``i`` starts where the remaining
            classes hold ``share_thresholds[i - 2]`` of the samples); see
            :func:`mmace.models.ace.plan_target_masks`. Defaults to
            ``'classes'``, the one reading that needs no per-dataset
            thresholds; the released code uses ``'share'`` on every
            dataset, and so do the CIFAR-10-LT configs.
        share_thresholds (Sequence[float], optional): ``K - 1`` decreasing
            sample shares for ``planner='share'``, e.g. ``[0.3, 0.05]``
            (the authors' CIFAR-10-LT). Defaults to None.
        loss (dict | nn.Module): The per-expert losses, an
            :class:`mmace.models.losses.ACELoss` config: ``loss_weight``
            (Eq. 4), ``complement`` (Eq. 5, a
            :class:`mmace.models.losses.ComplementLoss` config with its
            ``form``, ``'squared'`` as printed or ``'norm'`` as the released
            code, and ``loss_weight``; None is Table 5 "without L_com"),
            ``split_specific`` (SSC, Table 5) and ``logit_adjust_tau``. Kept
            as ``loss_module``, as in mmpretrain's ``ClsHead``.
            Defaults to ``dict(type='ACELoss')``.
        readout_expert (int, optional): Diagnosis (Table 5): predictions
            come from expert ``i`` (1-based) alone, its interfering classes
            never predicted; the same switch as in the det and seg heads.
            None (default) is the ACE aggregate.
        return_expert_scores (bool): Whether ``predict`` also stores each
            expert's own prediction (softmax over its target classes, 0
            elsewhere) as ``expert_scores`` ``[K, C]``. Defaults to False.
        topk (int | Tuple[int]): Top-k accuracy for ``cal_acc``.
            Defaults to ``(1, )``.
        cal_acc (bool): Whether to log the training accuracy of the
            aggregated prediction (hard labels only). Defaults to False.
        init_cfg (dict, optional): The config to control the initialization.
            Defaults to ``dict(type='Normal', layer='Linear', std=0.01)``.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 num_experts: int = 3,
                 class_counts: Union[Sequence[int], torch.Tensor, dict, str,
                                     None] = 'auto',
                 scale_bias: bool = False,
                 aggregation: str = 'avg',
                 loss: Union[dict, nn.Module] = dict(type='ACELoss'),
                 return_expert_scores: bool = False,
                 topk: Union[int, Tuple[int]] = (1, ),
                 cal_acc: bool = False,
                 init_cfg: Optional[dict] = dict(
                     type='Normal', layer='Linear', std=0.01),
                 **ace_options):
        owner = type(self).__name__
        num_classes = check_int(owner, 'num_classes', num_classes, 1)
        in_channels = check_int(owner, 'in_channels', in_channels, 1)
        num_experts = self.init_num_experts(num_experts, num_classes)
        check_choice(owner, 'aggregation', aggregation, AGGREGATIONS)
        check_bool(owner, 'scale_bias', scale_bias)
        check_bool(owner, 'return_expert_scores', return_expert_scores)
        check_bool(owner, 'cal_acc', cal_acc)
        loss = self.build_ace_loss(loss, 'loss')
        # ClsHead keeps the loss as `loss_module` (what mmpretrain's hooks,
        # e.g. SwitchRecipeHook, expect); here it is the ACE loss.
        ClsHead.__init__(
            self, loss=loss, topk=topk, cal_acc=cal_acc, init_cfg=init_cfg)
        self.init_ace_options(**ace_options)
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.aggregation = aggregation
        self.return_expert_scores = return_expert_scores

        self.classifiers = nn.ModuleList(
            LWSLinear(in_channels, num_classes, scale_bias=scale_bias)
            for _ in range(num_experts))
        # Zeros mean "unset"; load_state_dict copies real values in.
        self.init_class_counts(class_counts)

    def expert_feats(self, feats: Tuple[torch.Tensor]) -> Tuple[torch.Tensor]:
        """The K pooled expert features (one per backbone expert)."""
        if len(feats) != self.num_experts:
            raise ValueError(
                f'ACEHead got {len(feats)} feature tensors for '
                f'{self.num_experts} experts: model.backbone.num_experts and '
                'model.head.num_experts differ')
        return tuple(feats)

    def pre_logits(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        """The experts' features side by side, ``[N, K * D]``.

        What ``extract_feat(stage='pre_logits')`` returns: one tensor, as
        for mmpretrain's heads; the folded head (:meth:`switch_to_deploy`)
        is one linear layer on it.
        """
        return torch.cat(self.expert_feats(feats), dim=1)

    def expert_logits(self, feats: Tuple[torch.Tensor]) -> List[torch.Tensor]:
        """``K`` logits ``[N, C]``, one per expert."""
        return [
            clf(x)
            for clf, x in zip(self.classifiers, self.expert_feats(feats))
        ]

    def rescale_factors(self) -> Optional[torch.Tensor]:
        """``[K]`` Eq. 2 factors of the current weights (None: no rescale)."""
        return self.compute_rescale_factors(
            [clf.effective_weight for clf in self.classifiers],
            [clf.weight for clf in self.classifiers])

    def aggregate(self, logits: List[torch.Tensor]) -> torch.Tensor:
        """Rescale (Eq. 2) and merge (Eq. 3 or a variant) expert logits;
        with ``readout_expert``, that expert's own logits."""
        if self.readout_expert is not None:
            return self.readout_logits(logits)
        return aggregate_logits(logits, self.target_masks,
                                self.rescale_factors(),
                                aggregation=self.aggregation)

    def forward(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        """The aggregated logits ``[N, C]``."""
        self._check_counts()
        if getattr(self, 'deploy_fc', None) is not None:
            return self.deploy_fc(self.pre_logits(feats))
        return self.aggregate(self.expert_logits(feats))

    def switch_to_deploy(self) -> None:
        """Fold the K classifiers, Eq. 2 and Eq. 3 into one ``nn.Linear``.

        As mmpretrain's re-parameterisable models do: afterwards ``forward``
        and ``predict`` score with ``deploy_fc``
        (:func:`mmace.models.ace.fold_ace_head`), one matrix product
        on the concatenated expert features, giving the same logits up to
        float rounding. For inference only: the folded layer is a snapshot
        of the weights. ``aggregation='max'`` is not linear and raises.
        """
        from ..ace.fold import fold_ace_head
        if self.readout_expert is not None:
            raise ValueError('switch_to_deploy folds the ACE aggregate; it '
                             'is not for readout_expert (a diagnosis)')
        self.deploy_fc = fold_ace_head(self)

    def loss(self, feats: Tuple[torch.Tensor], data_samples: List[DataSample],
             **kwargs) -> dict:
        """Per-expert losses on their sub-batches.

        Args:
            feats (tuple[Tensor]): The K pooled expert features.
            data_samples (List[DataSample]): The annotations; ``gt_score``
                (Mixup/CutMix) is used when present, else ``gt_label``.

        Returns:
            dict[str, Tensor]: ``loss_cls_e{i}`` and, unless switched off,
            ``loss_com_e{i}`` for ``i = 1..K``.
        """
        self._check_counts()
        logits = self.expert_logits(feats)
        if 'gt_score' in data_samples[0]:
            targets = torch.stack([i.gt_score for i in data_samples])
        else:
            targets = torch.cat([i.gt_label for i in data_samples])
        losses = self.loss_module(logits, targets, self.target_masks)
        if self.cal_acc:
            if targets.dim() != 1:
                raise ValueError('cal_acc needs hard labels; it is '
                                 'pointless with batch augmentations')
            with torch.no_grad():
                scores = self.aggregate(logits)
            acc = Accuracy.calculate(scores, targets, topk=self.topk)
            losses.update(
                {f'accuracy_top-{k}': a
                 for k, a in zip(self.topk, acc)})
        return losses

    def predict(
        self,
        feats: Tuple[torch.Tensor],
        data_samples: Optional[List[Optional[DataSample]]] = None
    ) -> List[DataSample]:
        """Aggregated prediction (``pred_score``, ``pred_label``).

        With ``return_expert_scores``, each sample also gets
        ``expert_scores`` ``[K, C]``: every expert's softmax over its own
        target classes (unscaled logits, 0 on interfering classes).
        """
        self._check_counts()
        if getattr(self, 'deploy_fc', None) is not None:
            scores = self.forward(feats)  # folded (switch_to_deploy)
            logits = self.expert_logits(feats) \
                if self.return_expert_scores else None
        else:
            logits = self.expert_logits(feats)
            scores = self.aggregate(logits)
        predictions = self._get_predictions(scores, data_samples)
        if self.return_expert_scores:
            probs = expert_probs(logits, self.target_masks).transpose(0, 1)
            for sample, prob in zip(predictions, probs):
                sample.set_field(prob, 'expert_scores')
        return predictions

