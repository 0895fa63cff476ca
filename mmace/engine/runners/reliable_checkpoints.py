import os
import os.path as osp

from mmengine.dist import master_only
from mmengine.model import is_model_wrapper
from mmengine.runner import BaseLoop
from mmengine.runner.checkpoint import _load_checkpoint_to_model

from ...utils.checkpoint_io import (describe_mismatch,
                                   find_readable_checkpoint, read_checkpoint,
                                   replace_atomically, state_dict_mismatch)
from ...utils.errors import CheckpointError


class ReliableCheckpointsMixin:
    """Checkpoint reading and writing for an mmengine ``Runner`` that fail
    clearly and lose nothing.

    A corrupt file is named, weights that do not fit the model are refused
    before evaluating or resuming, ``--resume`` skips unreadable files, and
    saving is atomic. These are ``Runner`` methods with no hook before them,
    hence a mixin: ``class MyRunner(ReliableCheckpointsMixin, Runner)``.
    """

    def load_or_resume(self) -> None:
        """Load or resume a checkpoint, as mmengine does, but reliably.

        - ``--resume`` (auto): resume from the newest *readable* checkpoint
          in the work dir, warning about each newer one that is not; with
          none, say so plainly and train from scratch.
        - Evaluating (``tools/test.py``) or resuming with weights that do not
          fit the model is an error; ``load_from`` while training
          (fine-tuning) only warns. The config key ``load_strict``
          (True/False) overrides both.
        """
        if self._has_loaded:
            return None
        if self._resume and self._load_from is None:
            path, checkpoint, skipped = find_readable_checkpoint(self.work_dir)
            for bad, reason in skipped:
                reason = reason.replace(f'{bad!r} is', f'{bad!r}, which is')
                self.logger.warning(f'--resume: skipped {reason}')
            if path is None and skipped:
                raise CheckpointError(
                    f'--resume: none of the {len(skipped)} checkpoints in '
                    f'work_dir {self.work_dir!r} is readable (newest: '
                    f'{skipped[0][0]!r}). Resume from a good copy with '
                    '--resume <file>, or move them away to train from '
                    'scratch.')
            if path is None:
                self.logger.warning(
                    f'--resume: no checkpoint found in work_dir '
                    f'{self.work_dir!r}; training starts from scratch.')
                return None
            self.logger.info(
                f'Auto-resuming from {path}' +
                (', the newest readable checkpoint' if skipped else ''))
            self._preloaded = (path, checkpoint)
            self.resume(path)
        elif self._resume:
            self.resume(self._load_from)
        elif self._load_from is not None:
            training = isinstance(self._train_loop, BaseLoop)
            self._load_purpose = 'fine-tune' if training else 'evaluate'
            try:
                self.load_checkpoint(self._load_from)
            finally:
                self._load_purpose = None

    def resume(self, filename: str, *args, **kwargs) -> None:
        """mmengine's ``Runner.resume``, loading strictly (see above)."""
        self._load_purpose = 'resume'
        try:
            super().resume(filename, *args, **kwargs)
        finally:
            self._load_purpose = None

    def load_checkpoint(self,
                        filename: str,
                        map_location='cpu',
                        strict: bool = False,
                        revise_keys: list = [(r'^module.', '')]):
        """mmengine's ``Runner.load_checkpoint`` with clear errors.

        An unreadable file raises :class:`~mmace.utils.errors.CheckpointError`
        naming it. When evaluating or resuming (or with ``load_strict=True``)
        the weights must fit the model exactly: otherwise the error names
        the config, the checkpoint and the first mismatched keys.
        """
        preloaded, self._preloaded = getattr(self, '_preloaded', None), None
        if preloaded is not None and preloaded[0] == filename:
            checkpoint = preloaded[1]
        else:
            checkpoint = read_checkpoint(filename, map_location)
        purpose = getattr(self, '_load_purpose', None)
        if purpose == 'resume' and 'meta' not in checkpoint:
            raise CheckpointError(
                f'{filename!r} holds weights only, no training state to '
                'resume; start from these weights with --cfg-options '
                f'load_from={filename} (without --resume)')

        self.call_hook('after_load_checkpoint', checkpoint=checkpoint)
        model = self.model.module if is_model_wrapper(self.model) \
            else self.model
        self._check_fits(model, checkpoint, filename, purpose, strict,
                         revise_keys)
        checkpoint = _load_checkpoint_to_model(
            model, checkpoint, False, revise_keys=revise_keys)
        self._has_loaded = True
        self.logger.info(f'Load checkpoint from {filename}')
        return checkpoint

    def _check_fits(self, model, checkpoint, filename, purpose, strict,
                    revise_keys) -> None:
        mismatch = state_dict_mismatch(model, checkpoint, revise_keys)
        if not any(mismatch):
            return
        load_strict = self.cfg.get('load_strict', None)
        if load_strict is None:
            load_strict = strict or purpose in ('evaluate', 'resume')
        config = getattr(self.cfg, 'filename', None) or self.experiment_name
        what = (f'checkpoint {filename!r} does not fit the model of config '
                f'{config!r}: {describe_mismatch(*mismatch)}')
        if not load_strict:
            self.logger.warning(
                f'{what}. Those weights keep their initial values (set '
                'load_strict=True to make this an error).')
            return
        if purpose == 'resume':
            how = ('Resuming needs a checkpoint of this same model. To '
                   'start training from another model\'s weights '
                   '(fine-tuning), pass --cfg-options load_from=<checkpoint> '
                   'without --resume.')
        else:
            how = ('Evaluate with the checkpoint of this model, or load it '
                   'anyway (unmatched weights keep their initial values) '
                   'with --cfg-options load_strict=False.')
        raise CheckpointError(f'{what}. {how}')

    @master_only
    def save_checkpoint(self, out_dir: str, filename: str, *args,
                        **kwargs) -> None:
        """mmengine's ``Runner.save_checkpoint``, written atomically.

        The checkpoint is written as ``<filename>.tmp`` and renamed when
        complete, so a process killed while saving never leaves a
        half-written file under a checkpoint's name (auto-resume would pick
        it). Remote ``out_dir`` (``s3://`` etc.) is written as mmengine does.
        """
        remote = '://' in str(out_dir) or \
            kwargs.get('backend_args') or kwargs.get('file_client_args') or \
            (args and args[0])
        if remote:
            return super().save_checkpoint(out_dir, filename, *args,
                                           **kwargs)
        tmp = f'{filename}.tmp'
        try:
            super().save_checkpoint(out_dir, tmp, *args, **kwargs)
            replace_atomically(
                osp.join(out_dir, tmp), osp.join(out_dir, filename))
        except BaseException:
            if osp.exists(osp.join(out_dir, tmp)):
                os.remove(osp.join(out_dir, tmp))
            raise

