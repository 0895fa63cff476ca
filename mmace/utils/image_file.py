"""Say what is wrong with an image file that cannot be decoded.

OpenCV reports an empty, truncated or non-image file as
``!buf.empty() in imdecode_`` or ``!_src.empty() in cvtColor``, with no path.
The datasets use these helpers to raise one error that names the file.
"""
import logging
from typing import Optional

import mmcv
import numpy as np
from mmengine.fileio import get
from mmengine.logging import print_log

from .errors import BadImageError

#: Leading bytes of the formats OpenCV decodes.
_SIGNATURES = {
    b'\xff\xd8\xff': 'JPEG',
    b'\x89PNG\r\n\x1a\n': 'PNG',
    b'BM': 'BMP',
    b'GIF8': 'GIF',
    b'II*\x00': 'TIFF',
    b'MM\x00*': 'TIFF',
    b'RIFF': 'WebP',
    b'P5': 'PGM',
    b'P6': 'PPM',
}


def image_bytes_problem(data: bytes) -> str:
    """Why ``data`` could not be decoded, in a few words.

    Args:
        data (bytes): The file's content.

    Returns:
        str: e.g. ``'empty file'``, ``'not an image'``,
        ``'truncated or corrupt JPEG (886 bytes)'``.
    """
    if not data:
        return 'empty file (0 bytes)'
    for magic, kind in _SIGNATURES.items():
        if data.startswith(magic):
            return f'truncated or corrupt {kind} ({len(data)} bytes)'
    return (f'not an image ({len(data)} bytes, no known image signature: '
            f'starts with {data[:8]!r})')


def decode_image(path: str, **kwargs) -> np.ndarray:
    """``mmcv.imfrombytes(get(path))`` that names the file on failure.

    Args:
        path (str): Image path.
        **kwargs: Passed to :func:`mmcv.imfrombytes` (``flag``,
            ``channel_order``, ...).

    Returns:
        np.ndarray: The decoded image.

    Raises:
        BadImageError: The file is empty, truncated or not an image.
    """
    data = get(path)
    try:
        img = mmcv.imfrombytes(data, **kwargs)
    except Exception:  # cv2.error on empty or undecodable buffers
        img = None
    if img is None:
        reason = image_bytes_problem(data)
        error = BadImageError(f'cannot decode image {path!r}: {reason}')
        error.reason = reason
        raise error
    return img


def image_file_problem(path: str) -> Optional[str]:
    """Whether an image file decodes; the problem if it does not.

    Args:
        path (str): Image path.

    Returns:
        str | None: None for a good image, else what is wrong (without the
        path).
    """
    try:
        decode_image(path)
    except BadImageError as e:
        return e.reason
    except OSError as e:  # unreadable: permissions, I/O error
        return f'unreadable ({e})'
    return None


class BadImageCounter:
    """Count skipped images and warn about each one (per process).

    Args:
        dataset_name (str): Shown in the warning.
    """

    def __init__(self, dataset_name: str) -> None:
        self.dataset_name = dataset_name
        self.skipped = set()

    def warn(self, path: str, reason: str, substitute: str) -> None:
        """Log that an image was skipped (once per file).

        Args:
            path (str): The bad image.
            reason (str): What is wrong with it.
            substitute (str): The image used in its place.
        """
        if path in self.skipped:
            return
        self.skipped.add(path)
        print_log(
            f'{self.dataset_name} (skip_bad_images=True): skipped bad image '
            f'{path!r} ({reason}); using {substitute!r} of the same class '
            f'instead ({len(self.skipped)} skipped so far in this process)',
            logger='current',
            level=logging.WARNING)


def same_class_indices(dataset, idx: int):
    """Indices of the other samples of ``idx``'s class, in cyclic order.

    Args:
        dataset: A dataset with ``get_cat_ids``.
        idx (int): The sample whose class is wanted.

    Yields:
        int: ``idx + 1``, ``idx + 2``, ... (wrapping) of the same class.
    """
    label = dataset.get_cat_ids(idx)
    n = len(dataset)
    for step in range(1, n):
        j = (idx + step) % n
        if dataset.get_cat_ids(j) == label:
            yield j
