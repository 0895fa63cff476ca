"""Type checks for the ACE options, so a bad config value fails at build time.

Config values arrive from files and ``--cfg-options`` as any Python type; a
string where an int belongs would otherwise surface deep inside torch (e.g.
``'<' not supported between instances of 'str' and 'int'``). Each check
names the class and the option.
"""
from numbers import Integral, Real
from typing import Iterable, Optional


def check_int(owner: str, name: str, value, low: Optional[int] = None,
              high: Optional[int] = None, allow_none: bool = False):
    """Return ``value`` if it is an int within ``[low, high]``, else raise."""
    if value is None and allow_none:
        return value
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f'{owner}: {name}={value!r} must be an integer, got '
                        f'{type(value).__name__}')
    if (low is not None and value < low) or (high is not None
                                             and value > high):
        bounds = f'>= {low}' if high is None else f'between {low} and {high}'
        raise ValueError(f'{owner}: {name}={value!r} must be {bounds}')
    return int(value)


def check_number(owner: str, name: str, value, low: Optional[float] = None):
    """Return ``value`` if it is a real number ``>= low``, else raise."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f'{owner}: {name}={value!r} must be a number, got '
                        f'{type(value).__name__}')
    if low is not None and value < low:
        raise ValueError(f'{owner}: {name}={value!r} must be >= {low}')
    return value


def check_bool(owner: str, name: str, value) -> bool:
    """Return ``value`` if it is a bool, else raise."""
    if not isinstance(value, bool):
        raise TypeError(f'{owner}: {name}={value!r} must be True or False, '
                        f'got {type(value).__name__}')
    return value


def check_choice(owner: str, name: str, value, choices: Iterable):
    """Return ``value`` if it is one of ``choices``, else raise."""
    choices = list(choices)
    # `value in choices` would raise for unhashable values such as lists.
    if not any(value is c or (type(value) is type(c) and value == c)
               for c in choices):
        raise ValueError(f'{owner}: unknown {name} {value!r}, valid values '
                         f'are {choices}')
    return value


def check_num_experts_match(model_cfg: dict, path: str = 'model') -> None:
    """Fail before building when backbone and head disagree on ``K``.

    ``ACEBackbone`` and ``ACEHead`` are built separately by the classifier,
    so neither can see the other's ``num_experts``; a mismatch would
    otherwise surface at the first forward or in the optimizer constructor.
    Both default to 3, as the classes do.
    """
    if not isinstance(model_cfg, dict):
        return
    backbone, head = model_cfg.get('backbone'), model_cfg.get('head')
    if not (isinstance(backbone, dict) and isinstance(head, dict)
            and backbone.get('type') == 'ACEBackbone'
            and str(head.get('type', '')).startswith('ACE')):
        return
    k_backbone = backbone.get('num_experts', 3)
    k_head = head.get('num_experts', 3)
    if not all(isinstance(k, Integral) and not isinstance(k, bool)
               for k in (k_backbone, k_head)):
        return  # the classes themselves report the bad type
    if k_backbone != k_head:
        raise ValueError(
            f'{path}.backbone.num_experts={k_backbone!r} and '
            f'{path}.head.num_experts={k_head!r} differ: every backbone '
            'expert needs its own classifier; set them equal')


def check_eq7_schedulers(cfg) -> None:
    """Refuse an absolute ``eta_min`` with the per-expert learning rates.

    ``ACEOptimWrapperConstructor`` gives expert ``i`` the learning rate
    ``lr * share_i`` (Eq. 7). A scheduler's ``eta_min`` is one absolute
    floor for every parameter group, so as the schedule decays it lifts the
    small experts' rates to the same floor and the Eq. 7 ratios collapse
    towards 1 (e.g. ``PolyLR(eta_min=1e-4)`` with lr 0.01 and a share of
    0.03). ``eta_min_ratio`` (relative to each group's own rate) or
    ``eta_min=0`` keep them.
    """
    wrapper = cfg.get('optim_wrapper') or {}
    if not isinstance(wrapper, dict) or \
            wrapper.get('constructor') != 'ACEOptimWrapperConstructor':
        return
    schedulers = cfg.get('param_scheduler') or []
    if isinstance(schedulers, dict):
        schedulers = [schedulers]
    for i, sched in enumerate(schedulers):
        if not isinstance(sched, dict):
            continue
        eta_min = sched.get('eta_min')
        if isinstance(eta_min, (int, float)) and eta_min > 0:
            raise ValueError(
                f'param_scheduler[{i}].eta_min={eta_min} ({sched.get("type")})'
                ' is one absolute floor for every parameter group: with '
                "optim_wrapper.constructor='ACEOptimWrapperConstructor' it "
                "lifts the experts' Eq. 7 learning rates (lr x data share) "
                'to the same floor and their ratios collapse towards 1. Use '
                'eta_min=0 or, where the scheduler has it, eta_min_ratio')
