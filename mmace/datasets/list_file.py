import logging
import os.path as osp
from typing import List, Optional, Sequence, Union

import numpy as np
from mmengine.fileio import get_file_backend, get_text
from mmengine.logging import print_log

from mmpretrain.datasets import BaseDataset
from mmpretrain.registry import DATASETS

from ..utils.errors import BadImageError
from ..utils.image_file import (BadImageCounter, image_file_problem,
                                same_class_indices)


@DATASETS.register_module()
class LTListDataset(BaseDataset):
    """Image list files of ImageNet-LT, iNaturalist 2018 and Places-LT.

    Every non-blank line is ``<relative/path.jpg> <label>``. The line is
    split at its LAST run of whitespace, so image paths may contain spaces;
    leading and trailing whitespace is ignored. Labels are non-negative
    integers (``< num_classes`` when it is given). Parsing is strict: the
    first bad line raises an error naming ``<ann_file>:<line>``.

    Image paths are ``data_root / data_prefix / <relative path>`` (the same
    joining as every mmengine dataset; ``ann_file`` is joined with
    ``data_root`` too when relative). Data infos hold ``img_path`` and
    ``gt_label``, so pipelines start with ``LoadImageFromFile``.

    A class that the list names no image for is reported with a warning
    naming it. An image that cannot be decoded (empty, truncated, not an
    image) raises :class:`~mmace.utils.errors.BadImageError` naming the
    file; with ``skip_bad_images=True`` (training lists only) it is replaced
    by the next decodable image of the same class, with a warning.

    Examples:
        >>> train = LTListDataset(
        ...     ann_file='data/Places_LT/Places_LT_train.txt',
        ...     data_root='data/places365', num_classes=365,
        ...     pipeline=[dict(type='LoadImageFromFile'), ...])

    Args:
        ann_file (str): The list file.
        data_root (str): Root of ``ann_file`` and ``data_prefix``.
            Defaults to ''.
        data_prefix (str | dict): Image directory (relative to
            ``data_root``). Defaults to ''.
        num_classes (int, optional): Number of classes; labels must be in
            ``[0, num_classes)``. Defaults to None, which means
            ``len(classes)`` if given, else ``max label + 1``.
        classes (str | Sequence[str], optional): Class names (or a file of
            them, one a line). Defaults to None, which names classes
            ``'0'``, ``'1'``, ...
        check_files (bool): Whether to check at build time that every image
            exists. Defaults to True.
        skip_bad_images (bool): Whether to replace undecodable images (see
            above) instead of failing. Not for ``test_mode`` lists, where it
            would change the evaluation. Defaults to False.
        **kwargs: Other keyword arguments in :class:`BaseDataset`.
    """

    def __init__(self,
                 ann_file: str,
                 data_root: str = '',
                 data_prefix: Union[str, dict] = '',
                 num_classes: Optional[int] = None,
                 classes: Union[str, Sequence[str], None] = None,
                 check_files: bool = True,
                 skip_bad_images: bool = False,
                 **kwargs):
        if num_classes is not None and (isinstance(num_classes, bool)
                                        or not isinstance(num_classes, int)
                                        or num_classes < 1):
            raise ValueError('num_classes must be a positive integer or None,'
                             f' got num_classes={num_classes!r}')
        self.num_classes = num_classes
        self.check_files = check_files
        self.skip_bad_images = skip_bad_images
        self._bad_images = BadImageCounter(type(self).__name__)
        super().__init__(
            ann_file=ann_file,
            data_root=data_root,
            data_prefix=data_prefix,
            classes=classes,
            **kwargs)
        if num_classes is not None and self.CLASSES is not None and \
                len(self.CLASSES) != num_classes:
            raise ValueError(
                f'num_classes={num_classes} but {len(self.CLASSES)} class '
                f'names are given for {self.ann_file}')

    def _parse(self) -> List[tuple]:
        """Parse the list into ``(line_no, rel_path, label)`` tuples."""
        ann_file = self.ann_file
        if not osp.isfile(ann_file) and '://' not in ann_file:
            raise FileNotFoundError(f'LTListDataset: ann_file {ann_file!r} '
                                    'does not exist')
        limit = self.num_classes
        if limit is None and self.CLASSES is not None:
            limit = len(self.CLASSES)
        entries = []
        for line_no, line in enumerate(get_text(ann_file).splitlines(), 1):
            line = line.strip()
            if not line:
                continue
            parts = line.rsplit(maxsplit=1)
            if len(parts) != 2:
                raise ValueError(f"{ann_file}:{line_no}: expected '<path> "
                                 f"<label>', got {line!r}")
            path, label_str = parts
            try:
                label = int(label_str)
            except ValueError:
                raise ValueError(
                    f'{ann_file}:{line_no}: label must be a non-negative '
                    f'integer, got {label_str!r} in {line!r}') from None
            if label < 0:
                raise ValueError(f'{ann_file}:{line_no}: label must be a '
                                 f'non-negative integer, got {label}')
            if limit is not None and label >= limit:
                raise ValueError(f'{ann_file}:{line_no}: label {label} is out '
                                 f'of range [0, {limit}) for num_classes='
                                 f'{limit}')
            entries.append((line_no, path, label))
        if not entries:
            raise ValueError(f'LTListDataset: ann_file {ann_file!r} lists no '
                             'images')
        return entries

    def load_data_list(self) -> List[dict]:
        """Parse ``ann_file`` and optionally check that the images exist."""
        entries = self._parse()
        prefix = self.data_prefix['img_path']
        backend = get_file_backend(
            prefix or self.ann_file, enable_singleton=True)
        data_list = [
            dict(img_path=backend.join_path(prefix, path), gt_label=label)
            for _, path, label in entries
        ]
        if self.check_files:
            missing = [
                i for i, info in enumerate(data_list)
                if not backend.exists(info['img_path'])
            ]
            if missing:
                first = missing[0]
                raise FileNotFoundError(
                    f'LTListDataset: {len(missing)} of {len(data_list)} '
                    f'images listed in {self.ann_file} are missing; first: '
                    f"{data_list[first]['img_path']!r} "
                    f'({self.ann_file}:{entries[first][0]}). Check data_root '
                    f'/ data_prefix, or set check_files=False.')
        if self.CLASSES is None:
            num_classes = self.num_classes or \
                max(label for _, _, label in entries) + 1
            self._metainfo['classes'] = tuple(
                str(i) for i in range(num_classes))
        counts = np.bincount([label for _, _, label in entries],
                             minlength=len(self.CLASSES))
        # Saved with the checkpoints (mmengine's meta['dataset_meta']).
        self._metainfo['class_counts'] = counts.tolist()
        self._warn_empty_classes(counts)
        return data_list

    def _warn_empty_classes(self, counts: np.ndarray) -> None:
        """Warn about classes the list names no image for."""
        empty = np.flatnonzero(counts == 0).tolist()
        if not empty:
            return
        names = [f'{c} ({self.CLASSES[c]!r})' if self.CLASSES[c] != str(c)
                 else str(c) for c in empty[:10]]
        more = f', ... ({len(empty) - 10} more)' if len(empty) > 10 else ''
        print_log(
            f'LTListDataset: {self.ann_file} lists no image for '
            f'{len(empty)} of {len(self.CLASSES)} classes: '
            f"{'class' if len(empty) == 1 else 'classes'} "
            f"{', '.join(names)}{more}. A model trained on it never sees "
            'them; check the list (and num_classes / classes).',
            logger='current',
            level=logging.WARNING)

    def prepare_data(self, idx: int):
        """Run the pipeline; name the file when its image is bad.

        Args:
            idx (int): The index of data.

        Returns:
            Any: The pipeline's output.
        """
        try:
            return super().prepare_data(idx)
        except Exception:
            # Only blame the image when it really does not decode; any
            # other pipeline error keeps its own traceback.
            bad = self.get_data_info(idx)['img_path']
            reason = image_file_problem(bad)
            if reason is None:
                raise
        problem = f'cannot decode image {bad!r}: {reason}'
        if not self.skip_bad_images:
            raise BadImageError(
                f'LTListDataset ({self.ann_file}): {problem} (set '
                'skip_bad_images=True on the dataset to skip such files)')
        if self.test_mode:
            raise BadImageError(
                f'LTListDataset ({self.ann_file}): {problem}; '
                'skip_bad_images does not apply to a test list (it would '
                'change the evaluation): replace or remove the file')
        for other in same_class_indices(self, idx):
            path = self.get_data_info(other)['img_path']
            if image_file_problem(path) is None:
                self._bad_images.warn(bad, reason, path)
                return super().prepare_data(other)
        raise BadImageError(f'LTListDataset ({self.ann_file}): {problem}, '
                            'and no other image of its class decodes')

    def extra_repr(self) -> List[str]:
        """The extra repr information of the dataset."""
        return [
            f'Annotation file: \t{self.ann_file}',
            f'Prefix of images: \t{self.img_prefix}',
            f'Number of classes: \t{len(self.CLASSES or ())}',
        ]
