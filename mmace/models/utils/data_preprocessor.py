from typing import Optional

import torch
import torch.nn.functional as F
from mmpretrain.models.utils import ClsDataPreprocessor
from mmpretrain.registry import MODELS


@MODELS.register_module()
class BatchCropFlipDataPreprocessor(ClsDataPreprocessor):
    """``ClsDataPreprocessor`` that also pads, random-crops and flips the
    training batch, on the device, as one tensor operation.

    The same augmentation as the per-sample pipeline
    ``RandomCrop(crop_size=H, padding=crop_padding)`` (zero pixels, offsets
    uniform in ``[0, 2 * crop_padding]``) followed by
    ``RandomFlip(prob=flip_prob, direction='horizontal')``, applied to the
    raw pixels before normalisation and Mixup. For 32x32 images the
    per-sample Python transforms cost more than a GPU step of ResNet-32;
    here the dataloader only packs the decoded arrays. The random numbers
    come from torch's generator on the batch's device (seeded by
    ``randomness.seed``, stored by ``RNGStateHook``), so a run is
    reproducible but draws other crops than the per-sample pipeline.

    Validation and test batches pass unchanged. The batch must be stacked
    (``collate_fn=dict(type='default_collate')``) or hold images of one
    size.

    Args:
        crop_padding (int): Zero padding on each side before the crop; 0
            skips the crop. Defaults to 4.
        flip_prob (float): Probability of a horizontal flip. Defaults to 0.5.
        **kwargs: ``ClsDataPreprocessor``'s arguments (``mean``, ``std``,
            ``num_classes``, ``batch_augments``, ...).

    Example:
        >>> train_pipeline = [dict(type='PackInputs')]
        >>> data_preprocessor = dict(
        >>>     type='BatchCropFlipDataPreprocessor', crop_padding=4,
        >>>     flip_prob=0.5, num_classes=10, mean=..., std=...)
    """

    def __init__(self,
                 crop_padding: int = 4,
                 flip_prob: float = 0.5,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        if not isinstance(crop_padding, int) or isinstance(
                crop_padding, bool) or crop_padding < 0:
            raise ValueError('`crop_padding` of BatchCropFlipDataPreprocessor'
                             f' must be an int >= 0, but got {crop_padding!r}')
        if not 0 <= flip_prob <= 1:
            raise ValueError('`flip_prob` of BatchCropFlipDataPreprocessor '
                             f'must be in [0, 1], but got {flip_prob!r}')
        self.crop_padding = crop_padding
        self.flip_prob = float(flip_prob)

    def crop_flip(self,
                  inputs: torch.Tensor,
                  generator: Optional[torch.Generator] = None
                  ) -> torch.Tensor:
        """Random crop with zero padding and horizontal flip of ``[N, C, H,
        W]`` images, each image drawn independently."""
        n, _, h, w = inputs.shape
        device = inputs.device
        if self.crop_padding > 0:
            p = self.crop_padding
            padded = F.pad(inputs, (p, p, p, p))
            dy = torch.randint(0, 2 * p + 1, (n, 1), device=device,
                               generator=generator)
            dx = torch.randint(0, 2 * p + 1, (n, 1), device=device,
                               generator=generator)
            rows = (dy + torch.arange(h, device=device))[:, None, :, None]
            cols = (dx + torch.arange(w, device=device))[:, None, None, :]
            batch = torch.arange(n, device=device)[:, None, None, None]
            chans = torch.arange(inputs.shape[1], device=device)[None, :,
                                                                  None, None]
            inputs = padded[batch, chans, rows, cols]
        if self.flip_prob > 0:
            flip = torch.rand(n, device=device, generator=generator) \
                < self.flip_prob
            inputs = torch.where(flip[:, None, None, None], inputs.flip(-1),
                                 inputs)
        return inputs

    def forward(self, data: dict, training: bool = False) -> dict:
        if training:
            inputs = self.cast_data(data['inputs'])
            if isinstance(inputs, (list, tuple)):
                shapes = {tuple(x.shape) for x in inputs}
                if len(shapes) > 1:
                    raise ValueError(
                        'BatchCropFlipDataPreprocessor needs training images '
                        f'of one size; this batch has {sorted(shapes)}. '
                        'Resize them in the pipeline first.')
                inputs = torch.stack(list(inputs))
            data = dict(data, inputs=self.crop_flip(inputs))
        return super().forward(data, training)
