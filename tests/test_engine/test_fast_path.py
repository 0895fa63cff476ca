"""fast_path_config keeps the recipe: the pipeline's crop/flip move to the
device with their options and order (or are refused, named), loss terms are
read on the host only at logging iterations, the method is unchanged."""
import copy

import numpy as np
import pytest
import torch
from mmcv.transforms import RandomFlip
from mmengine.config import Config
from mmengine.hooks import Hook
from mmpretrain.datasets.transforms import RandomCrop
from mmpretrain.registry import HOOKS, MODELS, RUNNERS

from conftest import ACE_DIGITS, REPO
from mmace.engine import fast_path_config
from mmace.testing import HostReads
from mmace.utils.errors import ConfigError, NonFiniteLossError

CIFAR_ACE = REPO / 'configs/ace/ace_r32_cifar10-lt-100.py'


def pipeline(cfg):
    return cfg.train_dataloader.dataset.dataset.pipeline


def test_cifar_crop_and_flip_move_to_the_preprocessor():
    cfg = Config.fromfile(CIFAR_ACE)
    fast = fast_path_config(cfg)
    assert [t['type'] for t in pipeline(fast)] == ['PackInputs']
    prep = fast.data_preprocessor
    assert prep.type == 'BatchCropFlipDataPreprocessor'
    assert (prep.crop_size, prep.crop_padding, prep.pad_val) == (32, 4, 0)
    assert (prep.flip_prob, prep.flip_direction) == (0.5, 'horizontal')
    # Normalisation and Mixup are kept.
    assert prep.mean == cfg.data_preprocessor.mean
    assert prep.batch_augments == cfg.data_preprocessor.batch_augments
    for loader in ('train_dataloader', 'val_dataloader'):
        assert fast[loader].collate_fn == dict(type='default_collate')
    assert fast.default_hooks.runtime_info.type == 'BufferedRuntimeInfoHook'
    assert [h.get('interval') for h in fast.custom_hooks
            if h['type'] == 'NonFiniteLossHook'] == [
                cfg.default_hooks.logger.interval]
    assert fast.env_cfg.cudnn_benchmark is True
    # The method is untouched (SGD only runs fused), and the input config.
    assert fast.model == cfg.model
    fused = copy.deepcopy(cfg.optim_wrapper)
    fused.optimizer.fused = True
    assert fast.optim_wrapper == fused
    assert [t['type'] for t in pipeline(cfg)][:2] == [
        'RandomCrop', 'RandomFlip']


def test_amp_and_channels_last_switches():
    cfg = Config.fromfile(CIFAR_ACE)
    assert fast_path_config(cfg, amp='bf16').optim_wrapper.type == \
        'BF16OptimWrapper'
    fp16 = fast_path_config(cfg, amp='fp16').optim_wrapper
    assert (fp16.type, fp16.loss_scale) == ('AmpOptimWrapper', 'dynamic')
    hooks = fast_path_config(cfg, channels_last=True).custom_hooks
    assert [tuple(h['devices']) for h in hooks
            if h['type'] == 'ChannelsLastHook'] == [('cpu', 'cuda')]
    # A config without the hook gets one.
    cfg.custom_hooks = []
    hooks = fast_path_config(cfg, channels_last=True).custom_hooks
    assert [tuple(h['devices']) for h in hooks
            if h['type'] == 'ChannelsLastHook'] == [('cpu', 'cuda')]
    with pytest.raises(ValueError, match='amp'):
        fast_path_config(cfg, amp='int8')


def test_an_optimizer_that_chooses_its_implementation_keeps_it():
    cfg = Config.fromfile(CIFAR_ACE)
    cfg.optim_wrapper.optimizer.foreach = False
    assert 'fused' not in fast_path_config(cfg).optim_wrapper.optimizer


def test_a_pipeline_without_crop_or_flip_keeps_its_transforms():
    cfg = Config.fromfile(CIFAR_ACE)
    pipeline(cfg)[:2] = [dict(type='RandomResizedCrop', scale=32)]
    fast = fast_path_config(cfg)
    assert pipeline(fast) == pipeline(cfg)
    assert fast.data_preprocessor.get('type') is None


def test_crop_size_padding_and_flip_options_are_carried_over():
    cfg = Config.fromfile(CIFAR_ACE)
    pipeline(cfg)[:2] = [
        dict(type='RandomCrop', crop_size=(24, 28), padding=(1, 2, 3, 4),
             pad_val=(5, 6, 7)),
        dict(type='RandomFlip', prob=0.25, direction='vertical')
    ]
    prep = fast_path_config(cfg).data_preprocessor
    assert (prep.crop_size, prep.crop_padding, prep.pad_val) == (
        (24, 28), (1, 2, 3, 4), (5, 6, 7))
    assert (prep.flip_prob, prep.flip_direction) == (0.25, 'vertical')
    device = MODELS.build(prep)
    images = torch.zeros(2, 3, 32, 32, dtype=torch.uint8)
    assert device.crop_flip(images).shape == (2, 3, 24, 28)


@pytest.mark.parametrize('steps, culprit', [
    # A transform after the crop would move in front of it.
    ([dict(type='RandomCrop', crop_size=32, padding=4),
      dict(type='RandomFlip', prob=0.5),
      dict(type='RandomErasing', erase_prob=0.5),
      dict(type='PackInputs')], 'RandomErasing'),
    ([dict(type='RandomFlip', prob=0.5),
      dict(type='RandomCrop', crop_size=32, padding=4),
      dict(type='PackInputs')], 'runs before RandomCrop'),
    ([dict(type='RandomCrop', crop_size=32, padding=4, pad_if_needed=True),
      dict(type='PackInputs')], 'pad_if_needed'),
    ([dict(type='RandomCrop', crop_size=32, padding=4),
      dict(type='RandomFlip', prob=[0.3, 0.2],
           direction=['horizontal', 'vertical']),
      dict(type='PackInputs')], 'one direction'),
])
def test_what_cannot_move_in_order_is_refused_by_name(steps, culprit):
    cfg = Config.fromfile(CIFAR_ACE)
    pipeline(cfg)[:] = steps
    with pytest.raises(ConfigError, match=culprit) as err:
        fast_path_config(cfg)
    assert 'Random' in str(err.value)


def pipeline_crop_flip(images, crop, flip):
    """mmpretrain's RandomCrop then mmcv's RandomFlip, per HWC image, and
    the offsets and flips they drew."""
    offsets, flips, outs = [], [], []

    def record(method, into):

        def wrapped(*args, **kwargs):
            out = method(*args, **kwargs)
            into.append(out)
            return out

        return wrapped

    crop.rand_crop_params = record(crop.rand_crop_params, offsets)
    flip._choose_direction = record(flip._choose_direction, flips)
    for image in images:
        outs.append(flip(crop(dict(img=image.copy())))['img'])
    dy = torch.tensor([o[0] for o in offsets])
    dx = torch.tensor([o[1] for o in offsets])
    flipped = torch.tensor([f is not None for f in flips])
    return outs, dy, dx, flipped


@pytest.mark.parametrize('crop_args, direction', [
    (dict(crop_size=10, padding=3), 'horizontal'),
    (dict(crop_size=(6, 9), padding=(1, 2, 3, 4), pad_val=(5, 6, 7)),
     'vertical'),
    (dict(crop_size=(12, 13), padding=(2, 1)), 'diagonal'),
    # Larger than the padded image: cut to it.
    (dict(crop_size=40, padding=1), 'horizontal'),
    (dict(crop_size=(7, 5)), 'horizontal'),
])
def test_device_crop_flip_equals_the_pipeline_for_the_same_draws(
        crop_args, direction):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (16, 10, 12, 3), dtype=np.uint8)
    np.random.seed(0)
    outs, dy, dx, flipped = pipeline_crop_flip(
        images, RandomCrop(**crop_args),
        RandomFlip(prob=0.5, direction=direction))
    assert 0 < flipped.sum() < len(images)
    prep = MODELS.build(
        dict(type='BatchCropFlipDataPreprocessor',
             crop_size=crop_args['crop_size'],
             crop_padding=crop_args.get('padding') or 0,
             pad_val=crop_args.get('pad_val', 0), flip_prob=0.5,
             flip_direction=direction))
    batch = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
    device = prep.crop_flip_at(batch, dy, dx, flipped)
    expected = torch.from_numpy(np.stack(outs)).permute(0, 3, 1, 2)
    assert device.shape == expected.shape
    assert torch.equal(device, expected)


def test_device_offsets_cover_every_position_the_pipeline_can_draw():
    prep = MODELS.build(
        dict(type='BatchCropFlipDataPreprocessor', crop_size=(6, 9),
             crop_padding=(1, 2, 3, 4), flip_prob=0.5))
    images = torch.zeros(2000, 1, 10, 12)
    dy, dx, flip = prep.draw(images, torch.Generator().manual_seed(0))
    # Padded 16 x 16: rows 0..10, columns 0..7, as RandomCrop draws them.
    assert set(dy.tolist()) == set(range(11))
    assert set(dx.tolist()) == set(range(8))
    assert abs(flip.float().mean().item() - 0.5) < 0.05


class IterationReads:
    """Host reads inside each training iteration (GPU syncs)."""

    def __init__(self, reads: HostReads):
        self.per_iter = []
        counter = self

        class Start(Hook):
            priority = 'HIGHEST'

            def before_train_iter(self, runner, batch_idx, data_batch=None):
                reads.reset()
                reads.active = True

        class End(Hook):
            priority = 'LOWEST'

            def after_train_iter(self, runner, batch_idx, data_batch=None,
                                 outputs=None):
                reads.active = False
                counter.per_iter.append(reads.total)

        HOOKS.register_module(name='_ReadCounterStart', module=Start,
                              force=True)
        HOOKS.register_module(name='_ReadCounterEnd', module=End, force=True)
        self.hooks = [dict(type='_ReadCounterStart'),
                      dict(type='_ReadCounterEnd')]


def digits_config():
    cfg = Config.fromfile(ACE_DIGITS)
    cfg.default_hooks.logger.interval = 4
    return cfg


def train_digits(cfg, tmp_path, counter=None):
    cfg.work_dir = str(tmp_path)
    cfg.train_cfg.max_epochs = 1
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    if counter is not None:
        cfg.custom_hooks = list(cfg.custom_hooks) + counter.hooks
    runner = RUNNERS.build(cfg)
    runner.train()
    return runner


@pytest.mark.parametrize('amp', [None, 'bf16'])
def test_no_host_reads_between_logging_iterations(tmp_path, amp):
    cfg = fast_path_config(digits_config(), amp=amp)
    with HostReads(active=False) as reads:
        counter = IterationReads(reads)
        runner = train_digits(cfg, tmp_path / 'fast', counter)
    n = len(counter.per_iter)
    assert n == len(runner.train_dataloader) > 8
    logging = {i for i in range(n) if (i + 1) % 4 == 0} | {n - 1}
    assert all(counter.per_iter[i] == 0 for i in range(n)
               if i not in logging), str(counter.per_iter)
    # The log still carries every term (read at the logging iterations).
    loss = runner.message_hub.get_scalar('train/loss_cls_e1')
    assert len(loss.data[0]) == n
    # The default path reads every iteration: the counter sees them.
    with HostReads(active=False) as reads:
        default = IterationReads(reads)
        train_digits(digits_config(), tmp_path / 'default', default)
    assert min(default.per_iter) > 0


def test_divergence_is_reported_with_its_iteration_range(tmp_path):
    cfg = fast_path_config(digits_config())
    cfg.optim_wrapper.optimizer.lr = 1e6
    with pytest.raises(NonFiniteLossError, match=r'global iters \d+-\d+ '
                       r'\(read every 4 iterations\)'):
        train_digits(cfg, tmp_path)
    assert not list(tmp_path.glob('*.pth'))


def test_finiteness_check_costs_no_kernel_per_loss_term():
    from types import SimpleNamespace

    from mmace.engine.hooks import NonFiniteLossHook
    from mmace.testing import OpCounter

    hook = NonFiniteLossHook(interval=5)
    terms = {f'loss_cls_e{i}': torch.tensor(1.) for i in range(6)}
    outputs = dict(loss=sum(terms.values()), **terms)
    per_iter = []
    for i in range(4):
        runner = SimpleNamespace(iter=i, train_dataloader=[None] * 10,
                                 hooks=[])
        with OpCounter() as count:
            count.phase = 'hook'
            hook.after_train_iter(runner, i, None, outputs)
        per_iter.append(count.counts['hook'])
    # The summed loss only (finite only if every term is), added into a
    # running sum: one kernel an iteration, none for the first.
    assert per_iter == [0, 1, 1, 1], per_iter
