"""Score one ACE checkpoint under every Eq. 2 / Eq. 3 read-out at once.

The expert logits are computed once over a test set
(:func:`collect_logits`); every read-out (rescale x norm rows x reduction x
aggregation, and each expert alone) is then scored with the config's
``LongTailAccuracy`` (:func:`readouts`), exactly as ``tools/test.py`` would
score the same checkpoint with the ``--cfg-options`` stored in each row.
``tools/analysis_tools/readouts.py`` is the command line.
"""
import torch
from mmengine.config import Config
from mmengine.runner import load_checkpoint
from mmpretrain.registry import MODELS

from mmace.engine.hooks.channels_last_hook import apply_config_layout
from mmace.evaluation import LongTailAccuracy
from mmace.models.ace.readout import (AGGREGATIONS, aggregate_logits,
                                      expert_probs, rescale_factors)

#: (rescale, norm_over, norm_reduce, rescale_inverse, norm_weight) readings
#: of Eq. 2. The last two are the released code's valid_model (inverse
#: direction, per-class mean of plain row norms), on the raw weights as there
#: and on the LWS-scaled weights.
RESCALES = (
    ('squared', 'target', 'mean', False, 'scaled'),
    ('squared', 'target', 'sum', False, 'scaled'),
    ('squared', 'all', 'mean', False, 'scaled'),
    ('plain', 'target', 'mean', False, 'scaled'),
    ('plain', 'target', 'sum', False, 'scaled'),
    ('plain', 'all', 'mean', False, 'scaled'),
    ('plain', 'target', 'mean', True, 'raw'),
    ('plain', 'target', 'mean', True, 'scaled'),
    (None, 'target', 'mean', False, 'scaled'),
)
SPLIT_KEYS = ('top1', 'many', 'medium', 'few')


def build_model(cfg: Config, checkpoint: str) -> torch.nn.Module:
    """The config's model with the checkpoint's weights (counts included)."""
    model_cfg = cfg.model.copy()
    head_type = model_cfg.get('head', {}).get('type')
    if head_type != 'ACEHead':
        raise ValueError(f'{cfg.filename}: model.head is {head_type!r}, not '
                         'an ACEHead')
    # The checkpoint holds the training counts and the planner's masks.
    model_cfg.head.class_counts = None
    if cfg.get('data_preprocessor') is not None:
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    model = MODELS.build(model_cfg)
    load_checkpoint(model, checkpoint, map_location='cpu', strict=True,
                    revise_keys=[(r'^module\.', '')])
    model.head._check_counts()
    # The layout tools/test.py runs in, so the read-outs match it exactly.
    apply_config_layout(cfg, model)
    return model.eval()


@torch.no_grad()
def collect(model, dataloader, compute, dim: int = 0):
    """``compute(model, inputs)`` of every preprocessed batch, concatenated
    along ``dim``, and the ``[N]`` labels of the whole set."""
    outputs, labels = [], []
    for data in dataloader:
        data = model.data_preprocessor(data, False)
        outputs.append(compute(model, data['inputs']))
        labels.append(torch.cat([s.gt_label for s in data['data_samples']]))
    return torch.cat(outputs, dim=dim), torch.cat(labels)


def collect_logits(model, dataloader):
    """``[K, N, C]`` expert logits and ``[N]`` labels of the whole set."""
    return collect(
        model, dataloader,
        lambda m, x: torch.stack(m.head.expert_logits(m.extract_feat(x))),
        dim=1)


def build_metric(cfg: Config, counts) -> LongTailAccuracy:
    """The config's LongTailAccuracy thresholds, with the model's counts."""
    evaluator = cfg.get('test_evaluator') or {}
    evaluator = evaluator[0] if isinstance(evaluator, list) else evaluator
    metric = LongTailAccuracy(
        topk=1,
        class_counts=counts,
        many_thr=evaluator.get('many_thr', 100),
        few_thr=evaluator.get('few_thr', 20))
    # One table for all read-outs is printed below instead of one each.
    metric._log_table = lambda *args, **kwargs: None
    return metric


def score(metric, scores, labels):
    results = [dict(pred_score=s, gt_label=g.view(1))
               for s, g in zip(scores, labels)]
    metrics = metric.compute_metrics(results)
    return {k: metrics.get(k) for k in SPLIT_KEYS}


def readouts(model, logits, labels, metric):
    """One row per read-out: name, factors, cfg-options and accuracies."""
    head = model.head
    masks = head.target_masks
    weights = dict(
        scaled=torch.stack([c.effective_weight for c in head.classifiers]),
        raw=torch.stack([c.weight for c in head.classifiers]))
    rows = []
    for aggregation in AGGREGATIONS:
        for rescale, norm_over, reduce, inverse, weight in RESCALES:
            factors = rescale_factors(
                weights[weight].detach(),
                masks,
                rescale=rescale,
                norm_over=norm_over,
                norm_reduce=reduce,
                rescale_inverse=inverse)
            scores = aggregate_logits(
                list(logits), masks,
                None if rescale is None else factors, aggregation)
            options = [f'model.head.aggregation={aggregation}',
                       f'model.head.rescale={rescale}']
            name = f'{aggregation}, '
            if rescale is None:
                name += 'no rescale'
            else:
                name += f'{rescale} norm, {reduce} over {norm_over} rows'
                if inverse:
                    name += f', inverse, {weight} weights'
                options += [f'model.head.norm_over={norm_over}',
                            f'model.head.norm_reduce={reduce}',
                            f'model.head.rescale_inverse={inverse}',
                            f'model.head.norm_weight={weight}']
            default = aggregation == head.aggregation \
                and rescale == head.rescale and (
                    rescale is None
                    or (norm_over, reduce, inverse, weight) == (
                        head.norm_over, head.norm_reduce,
                        head.rescale_inverse, head.norm_weight))
            rows.append(dict(
                name=name + (' (config)' if default else ''),
                factors=[round(float(f), 4) for f in factors],
                cfg_options=options,
                **score(metric, scores, labels)))
    probs = expert_probs(list(logits), masks)
    for i, prob in enumerate(probs):
        rows.append(dict(
            name=f'expert {i + 1} alone ({int(masks[i].sum())} classes)',
            factors=None,
            # tools/test.py --expert-scores reports it as these keys.
            cfg_options=None,
            test_keys=f'accuracy/expert{i + 1}_*',
            **score(metric, prob, labels)))
    return rows


def format_table(rows) -> str:
    width = max(len(r['name']) for r in rows)
    lines = [f'{"read-out":<{width}} | {"Eq. 2 factors":<22} | ' +
             ' | '.join(f'{k:>6}' for k in ('all', *SPLIT_KEYS[1:]))]
    for r in rows:
        factors = '' if r['factors'] is None else ', '.join(
            f'{f:.3f}' for f in r['factors'])
        cells = [f'{r[k]:6.2f}' if r[k] is not None else f'{"-":>6}'
                 for k in SPLIT_KEYS]
        lines.append(f'{r["name"]:<{width}} | {factors:<22} | ' +
                     ' | '.join(cells))
    return '\n'.join(lines)
