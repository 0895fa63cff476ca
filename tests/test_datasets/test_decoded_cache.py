"""decode_once / DecodedImages: CIFAR-folder images decoded once per
process, the same pixels as lazy loading."""
import cv2
import numpy as np
import pytest

import mmace  # noqa: F401
from mmace.datasets.decoded_cache import (DecodedImages, clear_decoded_cache,
                                          decode_once)


def write_images(root, shapes):
    paths = []
    rng = np.random.default_rng(0)
    for i, shape in enumerate(shapes):
        path = str(root / f'{i:03d}.png')
        cv2.imwrite(path, rng.integers(0, 256, shape, dtype=np.uint8))
        paths.append(path)
    return paths


def test_decode_once_equals_lazy_and_is_memoised(tmp_path):
    from mmace.utils.image_file import decode_image
    clear_decoded_cache()
    paths = write_images(tmp_path, [(32, 32, 3)] * 5)
    (tmp_path / 'bad.png').write_bytes(b'')
    paths.append(str(tmp_path / 'bad.png'))
    images = decode_once(paths, flag='color', channel_order='rgb')
    assert images.array.shape == (6, 32, 32, 3)
    for i, path in enumerate(paths[:5]):
        lazy = decode_image(path, flag='color', channel_order='rgb')
        assert np.array_equal(images[i], lazy)
    assert images[5] is None  # left to the dataset's own error / skipping
    # A copy each time: pipelines may write into it.
    images[0][:] = 0
    assert images[0].any()
    assert decode_once(paths, flag='color', channel_order='rgb') is images
    assert decode_once(paths, flag='color', channel_order='bgr') \
        is not images
    clear_decoded_cache()


def test_decoded_images_of_mixed_shapes():
    a, b = np.ones((4, 4, 3), np.uint8), np.zeros((2, 5, 3), np.uint8)
    images = DecodedImages([a, None, b])
    assert images.array is None and len(images) == 3
    assert np.array_equal(images[2], b) and images[1] is None
    assert images.nbytes == a.nbytes + b.nbytes


def cifar_tree(root, per_class=3):
    """data_root/train/<class>/*.png with random 32x32 images."""
    from mmpretrain.datasets import CIFAR10
    rng = np.random.default_rng(0)
    classes = CIFAR10.METAINFO['classes']
    for name in classes:
        folder = root / 'train' / name
        folder.mkdir(parents=True)
        for i in range(per_class):
            cv2.imwrite(str(folder / f'{i}.png'),
                        rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
    return classes


def test_cifar_folder_decodes_once_with_the_same_images(tmp_path):
    from mmace.datasets import CIFAR10Auto, CIFARFolder
    from mmace.utils.errors import BadImageError
    clear_decoded_cache()
    classes = cifar_tree(tmp_path)
    (tmp_path / 'train' / 'cat' / 'zz_bad.png').write_bytes(b'not an image')
    kwargs = dict(data_root=str(tmp_path), metainfo=dict(classes=classes))
    cached = CIFARFolder(**kwargs)
    lazy = CIFARFolder(decode_once=False, **kwargs)
    assert lazy._decoded is None
    assert cached._decoded.array.shape == (31, 32, 32, 3)
    bad = next(i for i in range(len(cached))
               if 'zz_bad' in cached._get_raw_info(i)['img_path'])
    for i in range(len(cached)):
        if i != bad:
            assert np.array_equal(cached[i]['img'], lazy[i]['img'])
    # A bad file still fails when it is read, naming it, as without cache.
    with pytest.raises(BadImageError, match='zz_bad.png'):
        cached[bad]
    # Pipelines may write into the image: the cache is not touched.
    cached.get_data_info(0)['img'][:] = 0
    assert np.array_equal(cached[0]['img'], lazy[0]['img'])
    # Built again in this process (class counts, then the dataloader):
    # decoded once.
    assert CIFARFolder(**kwargs)._decoded is cached._decoded
    # The CIFAR10Auto option reaches the folder dataset.
    auto = CIFAR10Auto(data_root=str(tmp_path), decode_once=False,
                       skip_bad_images=True)
    assert auto._decoded is None
    clear_decoded_cache()
