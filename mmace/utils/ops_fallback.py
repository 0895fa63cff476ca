"""Let mmdet and mmseg import where mmcv has no compiled ops (mmcv-lite).

``mmdet.models`` and ``mmseg.models`` import ``mmcv.ops``, whose modules load
the compiled extension ``mmcv._ext`` at import time; mmcv-lite has none, so
the import fails. GPU users should install full mmcv with its CUDA ops
(``mim install "mmcv==2.1.0"``); nothing here changes such an install.

When ``mmcv._ext`` is missing, :func:`install_ops_fallback` registers a
stand-in ``mmcv._ext`` module:

- ``nms`` runs ``torchvision.ops.nms`` (a real kernel, same result for the
  ``offset=0`` boxes mmdet 3.x uses), so ``mmcv.ops.nms`` / ``batched_nms``
  and every mmdet post-processing built on them work.
- ``RoIAlign`` (``pool_mode='avg'``) is built with mmcv's own
  ``use_torchvision=True`` option, i.e. ``torchvision.ops.roi_align``.
- Every other compiled op raises :class:`MissingCompiledOpError` naming the
  op and how to get it, when it is *called*: importing still works, a wrong
  result is never returned silently.

The first use of a torchvision-backed op logs one warning naming the
fallback. ``import mmace`` calls :func:`install_ops_fallback` before
anything imports mmdet.
"""
import importlib.machinery
import importlib.util
import logging
import sys
import types

from mmengine.logging import print_log

#: The ops backed by torchvision, for messages and tests.
FALLBACK_OPS = ('nms', 'RoIAlign')
_FULL_MMCV = ('install full mmcv with its compiled ops instead of mmcv-lite: '
              '`pip uninstall -y mmcv-lite && pip install -U openmim && '
              'mim install "mmcv==2.1.0"`')
_warned = False


class MissingCompiledOpError(RuntimeError):
    """An mmcv op without a fallback was called where ``mmcv._ext`` is
    missing."""


def _warn_once() -> None:
    global _warned
    if not _warned:
        _warned = True
        print_log(
            "mmcv's compiled ops (mmcv._ext) are missing (mmcv-lite), so "
            'mmace backs them with torchvision: mmcv.ops.nms runs '
            'torchvision.ops.nms and RoIAlign runs torchvision.ops.roi_align '
            '(mmcv\'s use_torchvision=True). Any other compiled op raises an '
            f'error. For every op, {_FULL_MMCV}.',
            logger='current', level=logging.WARNING)


def _missing(name: str):
    """A stand-in for compiled op ``name`` that refuses to run."""

    def op(*args, **kwargs):
        raise MissingCompiledOpError(
            f"mmcv op '{name}' needs mmcv's compiled extension (mmcv._ext), "
            'which is not installed (mmcv-lite). mmace backs only '
            f'{" and ".join(FALLBACK_OPS)} with torchvision; for '
            f"'{name}', {_FULL_MMCV}.")

    op.__name__ = name
    return op


def _nms(bboxes, scores, iou_threshold: float, offset: int = 0):
    """``mmcv._ext.nms`` on ``torchvision.ops.nms``."""
    if offset != 0:
        raise MissingCompiledOpError(
            f'nms with offset={offset} (legacy "+1" box widths) has no '
            f'torchvision fallback; use offset=0 or {_FULL_MMCV}.')
    import torchvision
    _warn_once()
    return torchvision.ops.nms(bboxes, scores.to(bboxes.dtype),
                               float(iou_threshold))


class _FallbackExt(types.ModuleType):
    """``mmcv._ext`` stand-in: real ``nms``, every other name refuses."""

    def __getattr__(self, name: str):
        if name.startswith('__'):
            raise AttributeError(name)
        return _missing(name)


def _compiler_version() -> str:
    return 'none (mmcv-lite; mmace torchvision fallback)'


def _patch_roi_align() -> None:
    """Make ``mmcv.ops.RoIAlign`` use torchvision (mmcv's own option)."""
    from mmcv.ops.roi_align import RoIAlign
    if getattr(RoIAlign.__init__, '_mmace_fallback', False):
        return
    original = RoIAlign.__init__

    def __init__(self, output_size, spatial_scale=1.0, sampling_ratio=0,
                 pool_mode='avg', aligned=True, use_torchvision=False):
        if pool_mode != 'avg':
            raise MissingCompiledOpError(
                f"RoIAlign(pool_mode='{pool_mode}') has no torchvision "
                f"fallback (torchvision pools by 'avg' only); use "
                f"pool_mode='avg' or {_FULL_MMCV}.")
        _warn_once()
        original(self, output_size, spatial_scale, sampling_ratio, pool_mode,
                 aligned, use_torchvision=True)

    __init__._mmace_fallback = True
    RoIAlign.__init__ = __init__


def has_compiled_ops() -> bool:
    """Whether the real ``mmcv._ext`` is importable."""
    ext = sys.modules.get('mmcv._ext')
    if isinstance(ext, _FallbackExt):
        return False
    if ext is not None:
        return True
    try:
        return importlib.util.find_spec('mmcv._ext') is not None
    except (ImportError, ValueError):
        return False


def install_ops_fallback() -> bool:
    """Register the torchvision-backed ``mmcv._ext`` if it is missing.

    Does nothing where mmcv is not installed or has its compiled ops.

    Returns:
        bool: True if the fallback is (now) in place.
    """
    if importlib.util.find_spec('mmcv') is None or has_compiled_ops():
        return False
    if not isinstance(sys.modules.get('mmcv._ext'), _FallbackExt):
        ext = _FallbackExt('mmcv._ext', __doc__)
        ext.__file__ = __file__
        # No loader: mmengine's `mmcv_full_available()` (pkgutil) still
        # answers False, as it should.
        ext.__spec__ = importlib.machinery.ModuleSpec('mmcv._ext', None)
        ext.nms = _nms
        ext.get_compiler_version = _compiler_version
        ext.get_compiling_cuda_version = _compiler_version
        sys.modules['mmcv._ext'] = ext
        import mmcv
        mmcv._ext = ext
    _patch_roi_align()
    _complete_early_imports()
    return True


def _complete_early_imports() -> None:
    """Fill in what mmcv modules imported before the fallback left out.

    ``mmcv.cnn.bricks.transformer`` imports ``MultiScaleDeformableAttention``
    only if ``mmcv.ops`` imports; when mmpretrain (or anything else) was
    imported before mmace, that module was loaded without it and
    ``mmdet.models`` would fail on ``from mmcv.cnn.bricks.transformer import
    MultiScaleDeformableAttention``.
    """
    transformer = sys.modules.get('mmcv.cnn.bricks.transformer')
    if transformer is not None and not hasattr(
            transformer, 'MultiScaleDeformableAttention'):
        from mmcv.ops.multi_scale_deform_attn import \
            MultiScaleDeformableAttention
        transformer.MultiScaleDeformableAttention = \
            MultiScaleDeformableAttention
