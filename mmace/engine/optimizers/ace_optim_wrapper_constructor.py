import inspect
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn as nn
from mmengine.logging import MMLogger
from mmengine.optim import DefaultOptimWrapperConstructor, OptimWrapper
from mmengine.registry import OPTIM_WRAPPERS, OPTIMIZERS
from mmpretrain.registry import OPTIM_WRAPPER_CONSTRUCTORS

from ...models.ace.planner import lr_scales


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class ACEOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """Distribution-adaptive optimizer of ACE (Sec. 3.4, Eq. 7 & 8).

    Every parameter of expert :math:`i` (the ``i``-th entry under each of
    ``expert_prefixes``) gets its usual learning rate, after all the
    ``paramwise_cfg`` rules of :class:`DefaultOptimWrapperConstructor`,
    multiplied by a factor computed from the data share :math:`s_i` of that
    expert, i.e. the fraction of training samples whose class is one of its
    target classes. The shared trunk, the neck and expert 1
    (:math:`s_1 = 1`) keep the base learning rate. Momentum and weight decay
    are left unchanged.

    The shares are read from the model, never from the config: the first
    module with an ``expert_shares()`` method (``model.head``, the ACE bbox
    head of a detector, the ACE decode head of a segmentor) reports them
    from the class counts it stores.

    Besides the keys of :class:`DefaultOptimWrapperConstructor`,
    ``paramwise_cfg`` accepts:

    - ``lr_scheme`` (str): How a share becomes an lr factor. ``'linear'``
      (Eq. 7): :math:`s_i`; ``'sqrt'`` (Eq. 8): :math:`\\sqrt{s_i}`;
      ``'uniform'`` (Eq. 8): 1. Defaults to ``'linear'``.
    - ``expert_prefixes`` (Sequence[str] | dict): Parameter-name prefixes
      of the per-expert ``ModuleList`` s. In a list, ``{prefix}.{i}.``
      belongs to expert ``i + 1``; a dict maps a prefix to the expert number
      of its entry 0 (2 for the mmdet/mmseg heads, whose expert 1 keeps the
      stock module names). Defaults to :attr:`DEFAULT_EXPERT_PREFIXES`:
      mmace's classifiers, ``ACEShared2FCBBoxHead`` /
      ``ACEConvFCBBoxHead`` at ``roi_head.bbox_head`` and ``ACEFCNHead`` at
      ``decode_head``. Other places (e.g. one head per Cascade R-CNN stage,
      ``roi_head.bbox_head.1.experts``) are listed here.

    Parameter groups with identical settings are merged, so the optimizer
    holds a handful of groups (the shared ones, then those of each expert)
    instead of one group per tensor.

    Args:
        optim_wrapper_cfg (dict): The config of the optimizer wrapper, see
            :class:`DefaultOptimWrapperConstructor`. Any wrapper type
            (``OptimWrapper``, ``AmpOptimWrapper``, ...) and option
            (``clip_grad``, ``accumulative_counts``, ...) works.
        paramwise_cfg (dict, optional): Parameter-wise options, see above.
            Defaults to None.

    Example:
        >>> optim_wrapper = dict(
        >>>     constructor='ACEOptimWrapperConstructor',
        >>>     optimizer=dict(
        >>>         type='SGD', lr=0.1, momentum=0.9, weight_decay=5e-4),
        >>>     paramwise_cfg=dict(lr_scheme='linear'))
    """

    #: Prefix -> expert number (1-based) of ``{prefix}.0``.
    DEFAULT_EXPERT_PREFIXES = {
        'backbone.experts': 1,
        'head.classifiers': 1,
        'roi_head.bbox_head.experts': 2,
        'decode_head.experts': 2,
    }

    def __init__(self,
                 optim_wrapper_cfg: dict,
                 paramwise_cfg: Optional[dict] = None):
        paramwise_cfg = dict(paramwise_cfg or {})
        # Pop our own keys so that the base class only sees mmengine's keys.
        self.lr_scheme = paramwise_cfg.pop('lr_scheme', 'linear')
        expert_prefixes = paramwise_cfg.pop('expert_prefixes',
                                            self.DEFAULT_EXPERT_PREFIXES)
        if isinstance(expert_prefixes, str):
            expert_prefixes = (expert_prefixes, )
        if isinstance(expert_prefixes, (list, tuple)):
            expert_prefixes = {p: 1 for p in expert_prefixes}
        if not isinstance(expert_prefixes, dict) or not all(
                isinstance(p, str) and isinstance(n, int)
                and not isinstance(n, bool) and n >= 1
                for p, n in expert_prefixes.items()):
            raise TypeError(
                'ACEOptimWrapperConstructor: paramwise_cfg.expert_prefixes='
                f'{expert_prefixes!r} must be a string, a list of strings or '
                'a dict of prefix -> expert number (>= 1) of its entry 0')
        #: prefix -> 0-based expert index of ``{prefix}.0``.
        self.expert_prefixes = {
            p.rstrip('.'): n - 1 for p, n in expert_prefixes.items()}
        super().__init__(optim_wrapper_cfg, paramwise_cfg)

        # Fail at build time, before any model is touched.
        try:
            lr_scales(torch.ones(1), self.lr_scheme)
        except ValueError as e:
            raise ValueError(
                f'Invalid `paramwise_cfg.lr_scheme` {self.lr_scheme!r} of '
                f'ACEOptimWrapperConstructor: {e}') from e

    def _expert_index(self, name: str) -> Optional[int]:
        """The 0-based expert index of a parameter name, None if shared."""
        for prefix, first in self.expert_prefixes.items():
            if name.startswith(prefix + '.'):
                index = name[len(prefix) + 1:].split('.', 1)[0]
                if index.isdigit():
                    return first + int(index)
        return None

    def _get_lr_scales(self, model: nn.Module) -> List[float]:
        """Per-expert lr factors from the model's head."""
        head = next((m for _, m in model.named_modules()
                     if callable(getattr(m, 'expert_shares', None))), None)
        if head is None:
            raise ValueError(
                'ACEOptimWrapperConstructor needs an ACE model, with a head '
                'that has `expert_shares()` (ACEHead, ACEShared2FCBBoxHead, '
                f'ACEFCNHead), but no module of {type(model).__name__} has '
                'one.')
        shares = head.expert_shares()
        return [float(s) for s in lr_scales(shares, self.lr_scheme)]

    def _merge_groups(self, params: List[dict],
                      names: Dict[int, str]) -> tuple:
        """Merge per-tensor groups with equal settings, per expert.

        Returns:
            tuple: The merged groups and, for each, its 0-based expert index
            (None for shared parameters).
        """
        merged = OrderedDict()
        for group in params:
            expert = self._expert_index(names[id(group['params'][0])])
            options = {k: v for k, v in group.items() if k != 'params'}
            # repr() because custom_keys may put unhashable values in groups.
            key = (-1 if expert is None else expert,
                   repr(sorted(options.items())))
            if key not in merged:
                merged[key] = dict(options, params=[])
            merged[key]['params'].extend(group['params'])
        # Shared groups first, then expert 1, 2, ...; stable within each.
        keys = sorted(merged, key=lambda k: k[0])
        return ([merged[k] for k in keys],
                [None if k[0] < 0 else k[0] for k in keys])

    def __call__(self, model: nn.Module) -> OptimWrapper:
        if hasattr(model, 'module'):
            model = model.module
        scales = self._get_lr_scales(model)
        names = {id(p): n for n, p in model.named_parameters()}
        found = {self._expert_index(n) for n in names.values()} - {None}
        if not found:
            raise ValueError(
                'ACEOptimWrapperConstructor needs an ACE model, but no '
                f'parameter of {type(model).__name__} is under the expert '
                f'prefixes {list(self.expert_prefixes)} (top-level modules: '
                f'{[n for n, _ in model.named_children()]}).')
        if max(found) >= len(scales):
            raise ValueError(
                f'The model has parameters of expert {max(found) + 1} under '
                f'{list(self.expert_prefixes)}, but its head reports shares '
                f'for {len(scales)} experts.')

        # The base class applies the paramwise rules, one group per tensor.
        params: List[dict] = []
        self.add_params(params, model)
        groups, experts = self._merge_groups(params, names)

        optimizer_cfg = self.optimizer_cfg.copy()
        optimizer_cls = self.optimizer_cfg['type']
        if isinstance(optimizer_cls, str):
            with OPTIMIZERS.switch_scope_and_registry(None) as registry:
                optimizer_cls = registry.get(optimizer_cls)
        # Same first-argument lookup as the base class (e.g. `model_params`).
        first_arg = next(iter(inspect.signature(optimizer_cls).parameters))
        optimizer_cfg[first_arg] = groups
        optimizer = OPTIMIZERS.build(optimizer_cfg)
        # Scale after building, so that groups without an explicit lr use the
        # optimizer's own default (e.g. when `optimizer.lr` is not set).
        for group, expert in zip(optimizer.param_groups, experts):
            if expert is not None:
                group['lr'] = group['lr'] * scales[expert]
        self._log_table(optimizer.param_groups, experts, scales)

        optim_wrapper_cfg = self.optim_wrapper_cfg.copy()
        optim_wrapper_cfg.setdefault('type', 'OptimWrapper')
        return OPTIM_WRAPPERS.build(
            optim_wrapper_cfg, default_args=dict(optimizer=optimizer))

    def _log_table(self, param_groups: Sequence[dict],
                   experts: Sequence[Optional[int]],
                   scales: Sequence[float]) -> None:
        rows = OrderedDict()
        for group, expert in zip(param_groups, experts):
            name = 'shared' if expert is None else f'expert {expert + 1}'
            factor = 1. if expert is None else scales[expert]
            row = rows.setdefault(name, dict(factor=factor, lrs=[], n=0, t=0))
            if group['lr'] not in row['lrs']:
                row['lrs'].append(group['lr'])
            row['n'] += sum(p.numel() for p in group['params'])
            row['t'] += len(group['params'])
        header = ('group', f'{self.lr_scheme} factor', 'lr', '#elements',
                  '#tensors')
        lines = [header] + [(name, f'{r["factor"]:.4g}',
                             ', '.join(f'{lr:.4g}' for lr in r['lrs']),
                             str(r['n']), str(r['t']))
                            for name, r in rows.items()]
        widths = [max(len(line[i]) for line in lines) for i in range(5)]
        text = '\n'.join('  '.join(c.ljust(w) for c, w in zip(line, widths))
                         for line in lines)
        MMLogger.get_current_instance().info(
            f'ACE distribution-adaptive learning rates:\n{text}')
