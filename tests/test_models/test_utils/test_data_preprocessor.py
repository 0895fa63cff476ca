"""BatchCropFlipDataPreprocessor: the pipeline's padded random crop and
horizontal flip, drawn per image on the stacked batch."""
import pytest
import torch
import torch.nn.functional as F

from mmace.models.utils import BatchCropFlipDataPreprocessor


def crops_of(image, padding):
    """Every (dy, dx, flipped) crop of the zero-padded image."""
    padded = F.pad(image, (padding, ) * 4)
    h, w = image.shape[-2:]
    for dy in range(2 * padding + 1):
        for dx in range(2 * padding + 1):
            crop = padded[:, dy:dy + h, dx:dx + w]
            yield (dy, dx, False), crop
            yield (dy, dx, True), crop.flip(-1)


def which_crop(out, image, padding):
    found = [key for key, crop in crops_of(image, padding)
             if torch.equal(crop, out)]
    assert found, 'the output is no padded crop of its input'
    return found[0]


def test_each_image_is_one_padded_crop_maybe_flipped():
    prep = BatchCropFlipDataPreprocessor(crop_padding=2, flip_prob=0.5)
    # Distinct pixel values, so every crop position is recognisable.
    images = torch.arange(64 * 3 * 6 * 6, dtype=torch.float).reshape(
        64, 3, 6, 6) + 1
    out = prep.crop_flip(images, torch.Generator().manual_seed(0))
    keys = [which_crop(o, i, 2) for o, i in zip(out, images)]
    offsets = {(dy, dx) for dy, dx, _ in keys}
    flips = sum(flipped for _, _, flipped in keys)
    # Offsets uniform over 0..4 in each axis: 64 draws hit many of the 25.
    assert {dy for dy, _ in offsets} == set(range(5))
    assert {dx for _, dx in offsets} == set(range(5))
    assert 16 <= flips <= 48
    # Zero padding: an image shifted by the full padding shows zeros.
    shifted = [o for o, (dy, _, _) in zip(out, keys) if dy == 0]
    assert shifted and all((o[:, :2] == 0).all() for o in shifted)


def test_flip_probability_and_no_crop():
    images = torch.rand(4000, 1, 2, 2)
    prep = BatchCropFlipDataPreprocessor(crop_padding=0, flip_prob=0.25)
    out = prep.crop_flip(images, torch.Generator().manual_seed(1))
    flipped = (out != images).flatten(1).any(1).float().mean().item()
    assert abs(flipped - 0.25) < 0.03
    never = BatchCropFlipDataPreprocessor(crop_padding=0, flip_prob=0.)
    assert torch.equal(never.crop_flip(images), images)


def test_forward_augments_training_batches_only():
    prep = BatchCropFlipDataPreprocessor(
        crop_padding=4, flip_prob=1.0, mean=[10.] * 3, std=[2.] * 3)
    images = [torch.randint(0, 255, (3, 8, 8), dtype=torch.uint8)
              for _ in range(3)]
    test = prep(dict(inputs=images), training=False)['inputs']
    expected = (torch.stack(images).float() - 10.) / 2.
    assert torch.allclose(test, expected)
    torch.manual_seed(0)
    train = prep(dict(inputs=torch.stack(images)), training=True)['inputs']
    assert train.shape == expected.shape
    assert not torch.allclose(train, expected)
    # Padding pixels are black before normalisation: (0 - 10) / 2.
    for o, i in zip(train, images):
        which_crop(o * 2. + 10., i.float(), 4)


def test_bad_arguments_and_ragged_batches_are_named():
    with pytest.raises(ValueError, match='crop_padding'):
        BatchCropFlipDataPreprocessor(crop_padding=-1)
    with pytest.raises(ValueError, match='flip_prob'):
        BatchCropFlipDataPreprocessor(flip_prob=1.5)
    prep = BatchCropFlipDataPreprocessor()
    ragged = [torch.zeros(3, 8, 8), torch.zeros(3, 9, 8)]
    with pytest.raises(ValueError, match='one size'):
        prep(dict(inputs=ragged), training=True)
