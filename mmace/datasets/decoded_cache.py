"""Decode a folder of small images once per process (CIFAR class folders).

mmpretrain's pickle CIFAR holds its images as one ``uint8`` array; a
CIFAR tree of JPEG/PNG files would otherwise be decoded again in every
epoch (and in every dataloader worker). :func:`decode_once` decodes the
files once, in the process that builds the dataset (the workers fork from
it and share the array), and keeps the result for the process, so a
dataset built twice (class counts, then the dataloader) decodes once.

Meant for CIFAR-sized trees (CIFAR-10 train: 50,000 x 32 x 32 x 3 =
154 MB); large list datasets (ImageNet-LT, iNaturalist, Places-LT) keep
loading lazily.
"""
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from ..utils.image_file import decode_image

#: Process-wide memo: (paths, decode options) -> DecodedImages.
_MEMO: Dict[Tuple, 'DecodedImages'] = dict()


class DecodedImages:
    """Decoded images of a list of files; None for files that do not decode.

    Images of one shape are stored in one ``[N, H, W, C]`` array, others in
    a list. ``images[i]`` returns a copy, so pipelines may modify it in
    place.

    Args:
        images (list[ndarray | None]): The decoded images, in file order.
    """

    def __init__(self, images: Sequence[Optional[np.ndarray]]):
        good = [img for img in images if img is not None]
        shapes = {(img.shape, img.dtype) for img in good}
        self.ok = np.array([img is not None for img in images], dtype=bool)
        if len(shapes) == 1:
            shape, dtype = shapes.pop()
            self.array = np.zeros((len(images), *shape), dtype=dtype)
            for i, img in enumerate(images):
                if img is not None:
                    self.array[i] = img
            self.images = None
        else:
            self.array = None
            self.images = list(images)

    def __len__(self) -> int:
        return len(self.ok)

    def __getitem__(self, idx: int) -> Optional[np.ndarray]:
        if not self.ok[idx]:
            return None
        if self.array is not None:
            return self.array[idx].copy()
        return self.images[idx].copy()

    @property
    def nbytes(self) -> int:
        if self.array is not None:
            return self.array.nbytes
        return sum(img.nbytes for img in self.images if img is not None)


def _decode_or_none(path: str, kwargs: dict) -> Optional[np.ndarray]:
    # The dataset's lazy path raises (or substitutes) for these files with
    # its own message, so a bad file is not an error here.
    try:
        return decode_image(path, **kwargs)
    except Exception:
        return None


def decode_once(paths: Sequence[str],
                num_threads: Optional[int] = None,
                **kwargs) -> DecodedImages:
    """Decode ``paths`` (once per process) into :class:`DecodedImages`.

    Args:
        paths (Sequence[str]): Image files.
        num_threads (int, optional): Decoding threads (OpenCV releases the
            GIL). Defaults to None: ``min(8, os.cpu_count())``.
        **kwargs: Options of :func:`mmace.utils.image_file.decode_image`,
            e.g. ``flag='color', channel_order='rgb'``.

    Returns:
        DecodedImages: The images; the same object for the same paths and
        options within a process.
    """
    key = (tuple(paths), tuple(sorted(kwargs.items())))
    if key in _MEMO:
        return _MEMO[key]
    threads = num_threads or min(8, os.cpu_count() or 1)
    # Chunks of files per task: one future per file would cost more than
    # decoding a 32x32 JPEG.
    chunks = [key[0][i:i + 512] for i in range(0, len(paths), 512)]
    with ThreadPoolExecutor(threads) as pool:
        images = [
            img for chunk in pool.map(
                lambda c: [_decode_or_none(p, kwargs) for p in c], chunks)
            for img in chunk
        ]
    decoded = DecodedImages(images)
    _MEMO[key] = decoded
    return decoded


def clear_decoded_cache() -> None:
    """Forget every image decoded by :func:`decode_once` in this process."""
    _MEMO.clear()
