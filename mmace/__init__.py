"""mmace: ACE long-tailed recognition as an mmpretrain plugin.

Importing the package registers every dataset, model, metric, hook, optimizer
constructor and runner into mmpretrain's registries, and, where mmdet / mmseg
are installed, the ACE detection and segmentation heads into theirs (configs do this through
``custom_imports=dict(imports=['mmace'])``).
"""
from .utils import install_ops_fallback, register_checkpoint_safe_globals
from .version import __version__

# Before anything imports mmdet/mmseg (mmpretrain tries mmdet at import):
# without mmcv's compiled ops their `models` packages would not import.
install_ops_fallback()
register_checkpoint_safe_globals()

import importlib.util as _util  # noqa: E402

from . import datasets, engine, evaluation, models  # noqa: E402,F401

# The mmdet / mmseg heads, metrics and datasets, where those are installed
# (pip install "mmace[det]" / "mmace[seg]").
if _util.find_spec('mmdet') is not None:
    from . import det  # noqa: F401
if _util.find_spec('mmseg') is not None:
    from . import seg  # noqa: F401

__all__ = ['__version__']
