"""Let mmengine checkpoints load under torch's ``weights_only=True`` default.

Since torch 2.6 ``torch.load`` only unpickles allow-listed globals, and
mmengine 0.10.7 calls it without ``weights_only``, so ``--resume`` and
``load_from`` fail with ``Unsupported global``. A checkpoint's extra content
is mmengine's message hub: ``HistoryBuffer`` objects holding numpy arrays.
We allow-list exactly those types rather than turning ``weights_only`` off,
so loading stays safe for untrusted files.

``HistoryBuffer`` also pickles its statistics methods (``min``, ``max``, ...)
as ``getattr(HistoryBuffer, 'min')``; allowing ``getattr`` would defeat the
point of ``weights_only``. The default methods are re-registered by
``HistoryBuffer.__setstate__`` anyway, so we pickle only custom ones.
"""
import collections

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

_DEFAULT_STATISTICS = ('min', 'max', 'current', 'mean')


def _numpy_globals():
    globals_ = [np.ndarray, np.dtype]
    # numpy 2 moved `_reconstruct` and `scalar` from numpy.core to numpy._core.
    for mod_name in ('numpy._core.multiarray', 'numpy.core.multiarray'):
        try:
            mod = __import__(mod_name, fromlist=['_reconstruct', 'scalar'])
        except ImportError:
            continue
        globals_ += [mod._reconstruct, mod.scalar]
        break
    # Concrete dtype classes (numpy >= 1.25 pickles e.g. Float64DType).
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        globals_ += [
            getattr(dtypes, name) for name in dir(dtypes)
            if name.endswith('DType')
            and isinstance(getattr(dtypes, name), type)
        ]
    return globals_


def _history_buffer_getstate(self) -> dict:
    state = self.__dict__.copy()
    state['statistics_methods'] = {
        name: method
        for name, method in self._statistics_methods.items()
        if name not in _DEFAULT_STATISTICS
    }
    return state


def register_checkpoint_safe_globals():
    """Make mmengine checkpoints loadable with ``weights_only=True``."""
    HistoryBuffer.__getstate__ = _history_buffer_getstate
    add_safe_globals = getattr(torch.serialization, 'add_safe_globals', None)
    if add_safe_globals is None:  # torch < 2.4 has no weights_only default
        return
    add_safe_globals(
        [HistoryBuffer, collections.Counter, *_numpy_globals()])
