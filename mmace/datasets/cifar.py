import os
import os.path as osp
from typing import List

import numpy as np

from mmpretrain.datasets import CIFAR10, CIFAR100, BaseDataset
from mmpretrain.registry import DATASETS

from ..utils.errors import BadImageError
from ..utils.image_file import (BadImageCounter, decode_image,
                                same_class_indices)
from .decoded_cache import decode_once

IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.ppm', '.pgm', '.tif',
                  '.tiff', '.webp')
SPLITS = ('train', 'test')


def _short(names, n=10) -> str:
    names = list(names)
    return str(names[:n])[:-1] + (', ...]' if len(names) > n else ']')


def _layouts_help(cifar_cls) -> str:
    return (f"either the official python pickles '{cifar_cls.base_folder}/' "
            "or class folders '<split>/<class_name>/*.jpg' (split: train, "
            'test; class names as in '
            f"mmpretrain's {cifar_cls.__name__}.METAINFO)")


@DATASETS.register_module()
class CIFARFolder(BaseDataset):
    """CIFAR stored as image files in ``data_root/<split>/<class_name>/``.

    A drop-in for mmpretrain's pickle-based CIFAR datasets: every data info
    holds ``img`` as an ``HxWx3`` ``uint8`` RGB array (decoded once per
    process with ``decode_once``, else in :meth:`get_data_info`), so the
    same pipeline, without
    ``LoadImageFromFile``, works for both formats.

    Samples are ordered class by class (class-index order), and by file name
    within a class. Hidden files and files without an image extension are
    ignored.

    An image that cannot be decoded (empty, truncated, not an image) raises
    :class:`~mmace.utils.errors.BadImageError` naming the file. With
    ``skip_bad_images=True`` (training splits only) it is replaced by the
    next decodable image of the same class, with a warning that names it
    and counts the skipped files.

    Args:
        data_root (str): Root holding the ``train`` / ``test`` folders.
        split (str): ``'train'`` or ``'test'``. Defaults to 'train'.
        classes (Sequence[str], optional): Class names in label order; the
            folder names must match them. Defaults to None, which uses
            ``metainfo['classes']`` (e.g. mmpretrain's ``CIFAR10.METAINFO``).
        skip_bad_images (bool): Whether to replace undecodable images (see
            above) instead of failing. Not for ``test_mode`` splits, where
            it would change the evaluation. Defaults to False.
        decode_once (bool): Whether to decode every image once, when the
            dataset is built (``mmace.datasets.decoded_cache``: one uint8
            array per process, shared by the dataloader workers), instead of
            in every epoch. Defaults to True.
        **kwargs: Other keyword arguments in :class:`BaseDataset`.
    """

    def __init__(self,
                 data_root: str,
                 split: str = 'train',
                 classes=None,
                 skip_bad_images: bool = False,
                 decode_once: bool = True,
                 **kwargs):
        if split not in SPLITS:
            raise ValueError(f"split must be 'train' or 'test', got "
                             f'split={split!r}')
        self.split = split
        self.skip_bad_images = skip_bad_images
        self._bad_images = BadImageCounter(type(self).__name__)
        self.decode_once = decode_once
        self._decoded = None
        super().__init__(
            ann_file='',
            data_root=data_root,
            data_prefix=dict(img_path=split),
            classes=classes,
            **kwargs)

    def load_data_list(self) -> List[dict]:
        """Scan the class folders (names and labels only, no decoding)."""
        classes = self.CLASSES
        if not classes:
            raise ValueError('CIFARFolder needs class names (`classes` or '
                             "metainfo['classes']) to map folders to labels")
        root = self.data_prefix['img_path']
        if not osp.isdir(root):
            raise FileNotFoundError(f'CIFARFolder: split folder {root!r} does '
                                    'not exist')
        with os.scandir(root) as it:
            found = {e.name for e in it if e.is_dir()}
        unknown = sorted(found - set(classes))
        if unknown:
            raise ValueError(
                f'CIFARFolder: folder {osp.join(root, unknown[0])!r} is not a '
                f'class name; expected the {len(classes)} names '
                f'{_short(classes)}')
        missing = [c for c in classes if c not in found]
        if missing:
            raise FileNotFoundError(
                f'CIFARFolder: class folder {osp.join(root, missing[0])!r} is '
                f'missing ({len(missing)} of {len(classes)} class folders '
                'missing)')

        data_list = []
        for label, name in enumerate(classes):
            class_dir = osp.join(root, name)
            with os.scandir(class_dir) as it:
                files = sorted(
                    e.name for e in it if not e.name.startswith('.')
                    and e.name.lower().endswith(IMG_EXTENSIONS))
            if not files:
                raise FileNotFoundError(
                    f'CIFARFolder: class folder {class_dir!r} holds no images')
            data_list.extend(
                dict(img_path=osp.join(class_dir, f), gt_label=label)
                for f in files)
        return data_list

    def full_init(self):
        """Scan the folders; with ``decode_once``, decode every image."""
        if self._fully_initialized:
            return
        super().full_init()
        if self.decode_once:
            self._decoded = decode_once(
                [self._get_raw_info(i)['img_path'] for i in range(len(self))],
                flag='color', channel_order='rgb')

    def _decode(self, idx: int, path: str) -> np.ndarray:
        img = None if self._decoded is None else self._decoded[idx]
        if img is None:  # not cached, or a bad file: it raises as usual
            img = decode_image(path, flag='color', channel_order='rgb')
        return img

    def _get_raw_info(self, idx: int) -> dict:
        return super().get_data_info(idx)

    def get_data_info(self, idx: int) -> dict:
        """Get the ``idx``-th data info with the decoded RGB ``img``.

        Args:
            idx (int): The index of data.

        Returns:
            dict: ``img_path``, ``gt_label``, ``sample_idx`` and ``img``.
        """
        info = self._get_raw_info(idx)
        try:
            info['img'] = self._decode(idx, info['img_path'])
            return info
        except BadImageError as e:
            if not self.skip_bad_images:
                raise BadImageError(
                    f'{type(self).__name__}: {e} (set skip_bad_images=True '
                    'on the dataset to skip such files)') from None
            if self.test_mode:
                raise BadImageError(
                    f'{type(self).__name__}: {e}; skip_bad_images does not '
                    'apply to a test split (it would change the '
                    'evaluation): replace or remove the file') from None
            problem, reason = str(e), e.reason
        for other in same_class_indices(self, idx):
            sub = self._get_raw_info(other)
            try:
                sub['img'] = self._decode(other, sub['img_path'])
            except BadImageError:
                continue
            self._bad_images.warn(info['img_path'], reason, sub['img_path'])
            return sub
        raise BadImageError(f'{type(self).__name__}: {problem}, and no other '
                            'image of its class decodes')

    def get_gt_labels(self) -> np.ndarray:
        """Get all labels without decoding any image.

        Returns:
            np.ndarray: Labels of all samples.
        """
        return np.array(
            [self._get_raw_info(i)['gt_label'] for i in range(len(self))],
            dtype=np.int64)

    def get_cat_ids(self, idx: int) -> List[int]:
        """Get the category id of the ``idx``-th sample without decoding.

        Args:
            idx (int): The index of data.

        Returns:
            List[int]: Its category id.
        """
        return [int(self._get_raw_info(idx)['gt_label'])]

    def extra_repr(self) -> List[str]:
        """The extra repr information of the dataset."""
        return [f"Image folders: \t{self.data_prefix['img_path']}"]


def detect_cifar_layout(data_root: str, cifar_cls) -> str:
    """Find which CIFAR layout ``data_root`` holds.

    Args:
        data_root (str): The directory to inspect.
        cifar_cls (type): mmpretrain's ``CIFAR10`` or ``CIFAR100``.

    Returns:
        str: ``'pickle'`` (official python pickles), ``'folder'`` (class
        folders) or ``'download'`` (missing or empty root).
    """
    if osp.isdir(osp.join(data_root, cifar_cls.base_folder)):
        return 'pickle'
    if any(osp.isdir(osp.join(data_root, s)) for s in SPLITS):
        return 'folder'
    if not osp.isdir(data_root) or not os.listdir(data_root):
        return 'download'
    # Show visible entries first; hidden ones rarely explain the mistake.
    found = sorted(os.listdir(data_root), key=lambda n: (n[0] == '.', n))[:5]
    raise ValueError(
        f'data_root={data_root!r} holds no CIFAR data (found {found}); '
        f'expected {_layouts_help(cifar_cls)}')


def _build_cifar(cifar_cls, data_root: str, split: str = 'train',
                 pipeline=(), test_mode: bool = False, download: bool = True,
                 **kwargs):
    """``CIFAR10Auto`` / ``CIFAR100Auto`` for ``cifar_cls``."""
    if split not in SPLITS:
        raise ValueError(
            f"split must be 'train' or 'test', got split={split!r}")
    if not data_root:
        raise ValueError(f'data_root must be set; expected '
                         f'{_layouts_help(cifar_cls)}')
    layout = detect_cifar_layout(data_root, cifar_cls)
    # Only image files can be bad; the pickles have none to skip.
    skip_bad_images = kwargs.pop('skip_bad_images', False)
    decode = kwargs.pop('decode_once', True)
    common = dict(
        data_root=data_root,
        split=split,
        pipeline=pipeline,
        test_mode=test_mode,
        **kwargs)
    if layout == 'pickle':
        return cifar_cls(download=download, **common)
    if layout == 'folder':
        metainfo = dict(classes=cifar_cls.METAINFO['classes'])
        metainfo.update(common.pop('metainfo', None) or {})
        return CIFARFolder(
            metainfo=metainfo, skip_bad_images=skip_bad_images,
            decode_once=decode, **common)
    if not download:
        raise FileNotFoundError(
            f'data_root={data_root!r} is missing or empty and download=False;'
            f' put {_layouts_help(cifar_cls)} there, or set download=True')
    try:
        return cifar_cls(download=True, **common)
    except Exception as e:
        raise RuntimeError(
            f'downloading {cifar_cls.__name__} into data_root={data_root!r} '
            f'failed ({type(e).__name__}: {e}); place '
            f'{_layouts_help(cifar_cls)} in data_root instead') from e


@DATASETS.register_module()
def CIFAR10Auto(data_root: str,
                split: str = 'train',
                pipeline=(),
                test_mode: bool = False,
                download: bool = True,
                **kwargs):
    """CIFAR-10 from the official pickles or from class folders.

    ``data_root`` is inspected in this order:

    1. ``data_root/cifar-10-batches-py/`` exists: mmpretrain's
       :class:`CIFAR10`.
    2. ``data_root/train/`` or ``data_root/test/`` exists:
       :class:`CIFARFolder` with ``<split>/<class_name>/`` folders named
       after ``CIFAR10.METAINFO['classes']`` (official label order).
    3. ``data_root`` is missing or empty and ``download=True``: mmpretrain's
       :class:`CIFAR10`, which downloads the pickles.

    Anything else is an error. Both formats give ``img`` arrays (HxWx3 RGB
    uint8), so one pipeline without ``LoadImageFromFile`` serves both.

    Args:
        data_root (str): The dataset directory.
        split (str): ``'train'`` or ``'test'``. Defaults to 'train'.
        pipeline (Sequence): Processing pipeline. Defaults to ().
        test_mode (bool): Passed to the dataset. Defaults to False.
        download (bool): Whether to download when ``data_root`` is missing
            or empty. Defaults to True.
        **kwargs: Other keyword arguments of the chosen dataset
            (``skip_bad_images`` applies to class folders only).

    Returns:
        CIFAR10 | CIFARFolder: The built dataset.
    """
    return _build_cifar(CIFAR10, data_root, split, pipeline, test_mode,
                        download, **kwargs)


@DATASETS.register_module()
def CIFAR100Auto(data_root: str, **kwargs):
    """CIFAR-100 from the official pickles or from class folders.

    The arguments and rules of :func:`CIFAR10Auto`, with
    ``cifar-100-python/`` and ``CIFAR100.METAINFO['classes']`` (fine
    labels).

    Returns:
        CIFAR100 | CIFARFolder: The built dataset.
    """
    return _build_cifar(CIFAR100, data_root, **kwargs)
