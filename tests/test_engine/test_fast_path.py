"""fast_path_config: the pipeline's crop/flip move to the device, loss terms
are read on the host only at logging iterations, the method is unchanged."""
import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS, RUNNERS

from conftest import ACE_DIGITS, REPO
from mmace.engine import fast_path_config
from mmace.testing import HostReads
from mmace.utils.errors import NonFiniteLossError

CIFAR_ACE = REPO / 'configs/ace/ace_r32_cifar10-lt-100.py'


def pipeline(cfg):
    return cfg.train_dataloader.dataset.dataset.pipeline


def test_cifar_crop_and_flip_move_to_the_preprocessor():
    cfg = Config.fromfile(CIFAR_ACE)
    fast = fast_path_config(cfg)
    assert [t['type'] for t in pipeline(fast)] == ['PackInputs']
    prep = fast.data_preprocessor
    assert prep.type == 'BatchCropFlipDataPreprocessor'
    assert (prep.crop_padding, prep.flip_prob) == (4, 0.5)
    # Normalisation and Mixup are kept.
    assert prep.mean == cfg.data_preprocessor.mean
    assert prep.batch_augments == cfg.data_preprocessor.batch_augments
    for loader in ('train_dataloader', 'val_dataloader'):
        assert fast[loader].collate_fn == dict(type='default_collate')
    assert fast.default_hooks.runtime_info.type == 'BufferedRuntimeInfoHook'
    assert fast.default_hooks.non_finite_loss.interval == \
        cfg.default_hooks.logger.interval
    # The method is untouched, and the input config too.
    assert fast.model == cfg.model and fast.optim_wrapper == cfg.optim_wrapper
    assert [t['type'] for t in pipeline(cfg)][:2] == [
        'RandomCrop', 'RandomFlip']


def test_amp_and_channels_last_switches():
    cfg = Config.fromfile(CIFAR_ACE)
    assert fast_path_config(cfg, amp='bf16').optim_wrapper.type == \
        'BF16OptimWrapper'
    fp16 = fast_path_config(cfg, amp='fp16').optim_wrapper
    assert (fp16.type, fp16.loss_scale) == ('AmpOptimWrapper', 'dynamic')
    hook = fast_path_config(cfg, channels_last=True).default_hooks
    assert tuple(hook.channels_last.devices) == ('cpu', 'cuda')
    with pytest.raises(ValueError, match='amp'):
        fast_path_config(cfg, amp='int8')


def test_a_pipeline_without_padded_crop_keeps_its_transforms():
    cfg = Config.fromfile(CIFAR_ACE)
    pipeline(cfg)[0] = dict(type='RandomResizedCrop', scale=32)
    fast = fast_path_config(cfg)
    assert pipeline(fast) == pipeline(cfg)
    assert fast.data_preprocessor.get('type') is None


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
