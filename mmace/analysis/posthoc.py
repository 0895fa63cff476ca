"""Choose a post-hoc correction on a validation split, report the test split.

The tau-normalised classifier (Kang et al., ICLR 2020) and post-hoc logit
adjustment (Menon et al., ICLR 2021) change only how a trained linear
classifier is read, with one strength each (``tau_norm``, ``posthoc_tau``
of :class:`~mmace.models.heads.LongTailLinearClsHead`). Both papers choose
it on a validation split. The features are computed once per split
(:func:`collect_features`), every value is scored on them (:func:`sweep`)
with the config's ``LongTailAccuracy``, the best value on the validation
split is kept (:func:`choose`) and the test split is reported at that
value. ``tools/analysis_tools/posthoc_sweep.py`` is the command line.
"""
from typing import List, Optional, Sequence

import torch
from mmengine.config import Config
from mmengine.runner import load_checkpoint
from mmpretrain.registry import MODELS

from mmace.analysis.readouts import collect, score
from mmace.engine.hooks.channels_last_hook import apply_config_layout
from mmace.utils.checkpoint_io import read_checkpoint

#: The head options a sweep can tune.
OPTIONS = ('tau_norm', 'posthoc_tau')


def training_counts(checkpoint: str) -> Optional[List[int]]:
    """The training class counts a checkpoint recorded (mmengine's
    ``meta['dataset_meta']``), or None for checkpoints without them."""
    meta = read_checkpoint(checkpoint).get('meta') or {}
    counts = (meta.get('dataset_meta') or {}).get('class_counts')
    return None if counts is None else [int(c) for c in counts]


def build_linear_model(cfg: Config, checkpoint: str,
                       class_counts: Sequence[int]) -> torch.nn.Module:
    """The config's classifier with its head read as a
    ``LongTailLinearClsHead`` (a ``LinearClsHead`` checkpoint loads into it
    strictly) and the checkpoint's weights."""
    model_cfg = cfg.model.copy()
    head = model_cfg.get('head', {})
    if head.get('type') not in ('LinearClsHead', 'LongTailLinearClsHead'):
        raise ValueError(
            f'{cfg.filename}: model.head is {head.get("type")!r}; the '
            'post-hoc corrections apply to a LinearClsHead classifier')
    head.update(type='LongTailLinearClsHead', class_counts=list(class_counts),
                posthoc_tau=0., tau_norm=None)
    if cfg.get('data_preprocessor') is not None:
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    model = MODELS.build(model_cfg)
    load_checkpoint(model, checkpoint, map_location='cpu', strict=True,
                    revise_keys=[(r'^module\.', '')])
    apply_config_layout(cfg, model)
    return model.eval()


def collect_features(model, dataloader):
    """``[N, D]`` classifier inputs and ``[N]`` labels of a whole split."""
    return collect(model, dataloader,
                   lambda m, x: m.extract_feat(x, stage='pre_logits'))


@torch.no_grad()
def sweep(head, feats: torch.Tensor, labels: torch.Tensor, option: str,
          values: Sequence[float], metric) -> List[dict]:
    """Accuracies (top-1 / many / medium / few) at each value of
    ``option``; the head's other correction stays off."""
    if option not in OPTIONS:
        raise ValueError(f'unknown option {option!r}, valid options are '
                         f'{list(OPTIONS)}')
    saved = head.tau_norm, head.posthoc_tau
    rows = []
    try:
        for value in values:
            head.tau_norm, head.posthoc_tau = None, 0.
            setattr(head, option, float(value))
            scores = head.adjusted_logits((feats, )).softmax(dim=1)
            rows.append(dict(value=float(value),
                             **score(metric, scores, labels)))
    finally:
        head.tau_norm, head.posthoc_tau = saved
    return rows


def choose(rows: Sequence[dict]) -> dict:
    """The row with the best top-1 (the smallest value among ties)."""
    return max(rows, key=lambda r: (r['top1'], -r['value']))
