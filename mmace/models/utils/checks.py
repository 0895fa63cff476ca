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
