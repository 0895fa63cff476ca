"""mmace: ACE long-tailed recognition as an mmpretrain plugin.

Importing the package registers every dataset, model, metric, hook, optimizer
constructor and runner into mmpretrain's registries (configs do this through
``custom_imports=dict(imports=['mmace'])``).
"""
from .utils.checkpoint import register_checkpoint_safe_globals
from .version import __version__

register_checkpoint_safe_globals()

from . import datasets, engine, evaluation, models  # noqa: E402,F401

__all__ = ['__version__']
