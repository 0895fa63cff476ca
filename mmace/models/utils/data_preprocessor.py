from numbers import Number
from typing import Optional, Sequence, Tuple, Union

import torch
from mmpretrain.models.utils import ClsDataPreprocessor
from mmpretrain.registry import MODELS
from mmpretrain.structures import (DataSample, batch_label_to_onehot,
                                   cat_batch_labels, tensor_split)

#: ``flip_direction`` -> whether rows / columns are reversed.
_FLIP_AXES = dict(horizontal=(False, True), vertical=(True, False),
                  diagonal=(True, True))


def _ltrb(padding: Union[int, Sequence[int]]) -> Tuple[int, int, int, int]:
    """``padding`` in mmcv's format (an int, (left/right, top/bottom) or
    (left, top, right, bottom)) as (left, top, right, bottom)."""
    if isinstance(padding, int) and not isinstance(padding, bool):
        pads = (padding, ) * 4
    elif isinstance(padding, Sequence) and len(padding) in (2, 4):
        pads = tuple(padding) * (2 if len(padding) == 2 else 1)
    else:
        pads = None
    if pads is None or not all(
            isinstance(p, int) and not isinstance(p, bool) and p >= 0
            for p in pads):
        raise ValueError('`crop_padding` of BatchCropFlipDataPreprocessor '
                         'must be an int >= 0 or 2 or 4 of them (left/right, '
                         'top/bottom or left, top, right, bottom), but got '
                         f'{padding!r}')
    return pads


@MODELS.register_module()
class BatchCropFlipDataPreprocessor(ClsDataPreprocessor):
    """``ClsDataPreprocessor`` that also pads, random-crops and flips the
    training batch, on the device, as one gather.

    The same augmentation as the per-sample pipeline
    ``RandomCrop(crop_size, padding=crop_padding, pad_val=pad_val)``
    followed by ``RandomFlip(prob=flip_prob, direction=flip_direction)``
    (mmpretrain / mmcv), applied to the raw pixels before channel
    conversion, normalisation and Mixup: pad with ``pad_val``, crop
    ``crop_size`` at an offset drawn uniformly from every position that
    fits (a crop larger than the padded image is cut to it, as
    ``RandomCrop`` does), then flip. For 32x32 images the per-sample Python
    transforms cost more than a GPU step of ResNet-32; here the dataloader
    only packs the decoded arrays. The random numbers come from torch's
    generator on the batch's device (seeded by ``randomness.seed``, stored
    by ``RNGStateHook``), so a run is reproducible but draws other crops
    than the per-sample pipeline.

    The batch is copied to the device with ``non_blocking`` (the images
    and the batch's labels): from the dataloader's pinned memory the host
    then queues the step without waiting for the device to finish the
    previous one.

    Validation and test batches pass unchanged. The batch must be stacked
    (``collate_fn=dict(type='default_collate')``) or hold images of one
    size.

    Args:
        crop_size (int | tuple[int, int], optional): (height, width) of the
            crop, or one int for both. Defaults to None: the input's size.
        crop_padding (int | Sequence[int]): Padding before the crop, as
            ``RandomCrop``'s ``padding``: one int for every side, (left/right,
            top/bottom) or (left, top, right, bottom). Defaults to 4.
        pad_val (Number | Sequence[Number]): Value of the padded pixels,
            one for every channel or one per channel. Defaults to 0.
        flip_prob (float): Probability of a flip. Defaults to 0.5.
        flip_direction (str): ``'horizontal'``, ``'vertical'`` or
            ``'diagonal'`` (both). Defaults to ``'horizontal'``.
        non_blocking (bool): Copy batches to the device without waiting.
            Defaults to True.
        **kwargs: ``ClsDataPreprocessor``'s arguments (``mean``, ``std``,
            ``num_classes``, ``batch_augments``, ...).

    Example:
        >>> train_pipeline = [dict(type='PackInputs')]
        >>> data_preprocessor = dict(
        >>>     type='BatchCropFlipDataPreprocessor', crop_size=32,
        >>>     crop_padding=4, flip_prob=0.5, num_classes=10, mean=...,
        >>>     std=...)
    """

    def __init__(self,
                 crop_size: Optional[Union[int, Sequence[int]]] = None,
                 crop_padding: Union[int, Sequence[int]] = 4,
                 pad_val: Union[Number, Sequence[Number]] = 0,
                 flip_prob: float = 0.5,
                 flip_direction: str = 'horizontal',
                 non_blocking: bool = True,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self._non_blocking = bool(non_blocking)
        if crop_size is not None:
            size = (crop_size, crop_size) if isinstance(crop_size, int) \
                else tuple(crop_size)
            if len(size) != 2 or not all(
                    isinstance(s, int) and not isinstance(s, bool) and s > 0
                    for s in size):
                raise ValueError('`crop_size` of BatchCropFlipDataPreprocessor'
                                 ' must be None, an int > 0 or (height, '
                                 f'width), but got {crop_size!r}')
            crop_size = size
        self.crop_size = crop_size
        self.crop_padding = _ltrb(crop_padding)
        if not isinstance(pad_val, Number) and not (
                isinstance(pad_val, Sequence)
                and all(isinstance(v, Number) for v in pad_val)):
            raise ValueError('`pad_val` of BatchCropFlipDataPreprocessor '
                             'must be a number or one per channel, but got '
                             f'{pad_val!r}')
        self.pad_val = pad_val
        if not isinstance(flip_prob, Number) or not 0 <= flip_prob <= 1:
            raise ValueError('`flip_prob` of BatchCropFlipDataPreprocessor '
                             f'must be in [0, 1], but got {flip_prob!r}')
        self.flip_prob = float(flip_prob)
        if flip_direction not in _FLIP_AXES:
            raise ValueError(
                '`flip_direction` of BatchCropFlipDataPreprocessor must be '
                f'one of {sorted(_FLIP_AXES)}, but got {flip_direction!r}')
        self.flip_direction = flip_direction

    def draw(self,
             inputs: torch.Tensor,
             generator: Optional[torch.Generator] = None
             ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Random offsets ``dy``, ``dx`` into the padded images and flip
        flags, one per image (``[N]`` each, on the batch's device)."""
        n, _, h, w = inputs.shape
        left, top, right, bottom = self.crop_padding
        (hp, wp), (th, tw) = (h + top + bottom, w + left + right), \
            self.target_size(h, w)
        zeros = inputs.new_zeros(n, dtype=torch.long)
        dy = dx = zeros
        # No draw where only one offset fits, as RandomCrop.
        if hp > th:
            dy = torch.randint(0, hp - th + 1, (n, ), device=inputs.device,
                               generator=generator)
        if wp > tw:
            dx = torch.randint(0, wp - tw + 1, (n, ), device=inputs.device,
                               generator=generator)
        flip = zeros.bool()
        if self.flip_prob > 0:
            flip = torch.rand(n, device=inputs.device,
                              generator=generator) < self.flip_prob
        return dy, dx, flip

    def target_size(self, h: int, w: int) -> Tuple[int, int]:
        """The crop's size for ``h x w`` inputs (cut to the padded size)."""
        left, top, right, bottom = self.crop_padding
        hp, wp = h + top + bottom, w + left + right
        th, tw = self.crop_size or (h, w)
        return min(th, hp), min(tw, wp)

    def pad(self, inputs: torch.Tensor) -> torch.Tensor:
        """``inputs`` with ``crop_padding`` pixels of ``pad_val`` around."""
        left, top, right, bottom = self.crop_padding
        if not any(self.crop_padding):
            return inputs
        if isinstance(self.pad_val, Number):
            return torch.nn.functional.pad(inputs,
                                           (left, right, top, bottom),
                                           value=self.pad_val)
        n, c, h, w = inputs.shape
        if len(self.pad_val) != c:
            raise ValueError(
                f'`pad_val` of BatchCropFlipDataPreprocessor has '
                f'{len(self.pad_val)} values for images of {c} channels')
        padded = inputs.new_empty(n, c, h + top + bottom, w + left + right)
        for channel, value in enumerate(self.pad_val):
            padded[:, channel].fill_(value)
        padded[:, :, top:top + h, left:left + w] = inputs
        return padded

    def crop_flip_at(self, inputs: torch.Tensor, dy: torch.Tensor,
                     dx: torch.Tensor, flip: torch.Tensor) -> torch.Tensor:
        """Pad ``[N, C, H, W]`` images, crop each at ``(dy[i], dx[i])`` of
        the padded image and flip those with ``flip[i]``."""
        n, c, h, w = inputs.shape
        th, tw = self.target_size(h, w)
        padded = self.pad(inputs)
        wp = padded.shape[-1]
        rows = torch.arange(th, device=inputs.device)
        cols = torch.arange(tw, device=inputs.device)
        flip_rows, flip_cols = _FLIP_AXES[self.flip_direction]
        # The flip reverses the crop's index order, so crop and flip are
        # one gather.
        if flip_rows:
            rows = torch.where(flip[:, None], rows.flip(0), rows)
        if flip_cols:
            cols = torch.where(flip[:, None], cols.flip(0), cols)
        rows = (dy[:, None] + rows.expand(n, th))[:, :, None]
        cols = (dx[:, None] + cols.expand(n, tw))[:, None, :]
        index = (rows * wp + cols).reshape(n, 1, th * tw).expand(n, c, -1)
        return padded.flatten(2).gather(2, index).reshape(n, c, th, tw)

    def crop_flip(self,
                  inputs: torch.Tensor,
                  generator: Optional[torch.Generator] = None
                  ) -> torch.Tensor:
        """Random crop with padding and flip of ``[N, C, H, W]`` images,
        each image drawn independently."""
        return self.crop_flip_at(inputs, *self.draw(inputs, generator))

    def forward(self, data: dict, training: bool = False) -> dict:
        if not training:
            return super().forward(data, training)
        inputs = self.cast_data(data['inputs'])
        if isinstance(inputs, (list, tuple)):
            shapes = {tuple(x.shape) for x in inputs}
            if len(shapes) > 1:
                raise ValueError(
                    'BatchCropFlipDataPreprocessor needs training images '
                    f'of one size; this batch has {sorted(shapes)}. '
                    'Resize them in the pipeline first.')
            inputs = torch.stack(list(inputs))
        inputs = self.crop_flip(inputs)
        samples = data.get('data_samples')
        if not samples or not isinstance(samples[0], DataSample):
            return super().forward(dict(data, inputs=inputs), training)
        # Channel order, normalisation and padding by the parent; the labels
        # here, so that they too are copied without waiting.
        inputs = super().forward(dict(inputs=inputs), training)['inputs']
        inputs, samples = self._labels(inputs, samples)
        return dict(inputs=inputs, data_samples=samples)

    def _labels(self, inputs: torch.Tensor, samples: list) -> tuple:
        """``ClsDataPreprocessor``'s label handling and batch augments, with
        the labels copied to the device in one non-blocking transfer."""
        first, label, score = samples[0], None, None
        if 'gt_label' in first:
            label, indices = cat_batch_labels([s.gt_label for s in samples])
            label = label.to(self.device, non_blocking=self._non_blocking)
        if 'gt_score' in first:
            score = torch.stack([s.gt_score for s in samples]).to(
                self.device, non_blocking=self._non_blocking)
        elif self.to_onehot and label is not None:
            num_classes = self.num_classes or first.get('num_classes')
            if num_classes is None:
                raise ValueError(
                    'BatchCropFlipDataPreprocessor needs `num_classes` for '
                    'one-hot labels (batch_augments or to_onehot)')
            if indices == list(range(1, len(samples))) and \
                    len(label) == len(samples):
                # One label per sample: a scatter, without one_hot's range
                # check (a host read of the labels' min and max) and
                # without a sum per sample.
                score = label.new_zeros(len(label), num_classes).scatter_(
                    1, label[:, None], 1)
            else:
                score = batch_label_to_onehot(label, indices, num_classes)
        if self.batch_augments is not None and score is not None:
            inputs, score = self.batch_augments(inputs, score)
        if label is not None:
            for sample, value in zip(samples, tensor_split(label, indices)):
                sample.set_gt_label(value)
        if score is not None:
            for sample, value in zip(samples, score):
                sample.set_gt_score(value)
        return inputs, samples
