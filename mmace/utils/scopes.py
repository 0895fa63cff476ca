"""Make mmace's engine parts buildable from mmdet and mmseg configs.

mmace registers into mmpretrain's registries. mmdet's and mmseg's tools
build runners, hooks and optimizer constructors with their own registries
(``default_scope='mmdet'`` / ``'mmseg'``), which do not see mmpretrain's
siblings, so a det/seg config could not say ``runner_type='LongTailRunner'``.
:func:`register_in_downstream_scopes` adds the same classes there. Only the
light ``<scope>.registry`` modules are imported.
"""
import importlib
import importlib.util
from typing import Dict, Sequence

DOWNSTREAM_SCOPES = ('mmdet', 'mmseg')


def register_in_downstream_scopes(
        modules: Dict[str, Sequence[type]],
        scopes: Sequence[str] = DOWNSTREAM_SCOPES) -> None:
    """Register classes into the same-named registries of other scopes.

    Args:
        modules (dict): Registry name (e.g. ``'RUNNERS'``) to the classes to
            register under their own names.
        scopes (Sequence[str]): The scopes; those not installed are
            skipped.
    """
    for scope in scopes:
        # Optional frameworks: `import mmace` has already imported those
        # that are installed (mmace.det, mmace.seg).
        if importlib.util.find_spec(scope) is None:
            continue
        registry_module = importlib.import_module(f'{scope}.registry')
        for registry_name, classes in modules.items():
            registry = getattr(registry_module, registry_name)
            for cls in classes:
                registry.register_module(module=cls, force=True)
