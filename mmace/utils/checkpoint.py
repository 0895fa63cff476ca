"""Let mmengine checkpoints load under torch's ``weights_only=True`` default.

Since torch 2.6 ``torch.load`` only unpickles allow-listed globals. mmengine
0.10.7 stores its message hub (``HistoryBuffer`` with numpy arrays) and numpy
scalars in every checkpoint, so ``--resume`` and ``load_from`` fail with
``Unsupported global``. We allow-list exactly those types instead of turning
``weights_only`` off, so loading stays safe for untrusted files.
"""
import numpy as np
import torch


def _numpy_globals():
    globals_ = [np.ndarray, np.dtype]
    # numpy moved `_reconstruct` and `scalar` from numpy.core to numpy._core.
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
            if name.endswith('DType') and isinstance(
                getattr(dtypes, name), type)
        ]
    return globals_


def register_checkpoint_safe_globals():
    """Allow-list mmengine's checkpoint contents for ``torch.load``."""
    add_safe_globals = getattr(torch.serialization, 'add_safe_globals', None)
    if add_safe_globals is None:  # torch < 2.4 has no weights_only default
        return
    from mmengine.logging import HistoryBuffer
    add_safe_globals([HistoryBuffer, *_numpy_globals()])
