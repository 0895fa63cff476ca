"""What ``tools/train.py`` and ``tools/test.py`` share: the runner options
of the command line, the config they give, and running it."""
import argparse
import os
import os.path as osp
import sys
from typing import Any, Tuple

from mmengine.config import Config, DictAction
from mmengine.logging import MMLogger
from mmengine.runner import Runner

from .errors import ReportedError


def add_runner_args(parser: argparse.ArgumentParser, work_dir_help: str,
                    cfg_options_example: str) -> None:
    """Add ``--work-dir``, ``--cfg-options``, ``--launcher`` and
    ``--local_rank`` to a tool's parser.

    Args:
        parser (argparse.ArgumentParser): The tool's parser.
        work_dir_help (str): What the tool writes to ``--work-dir``.
        cfg_options_example (str): An override the tool's users often
            need, shown in the help.
    """
    parser.add_argument('--work-dir', help=work_dir_help)
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help=f'override config settings, e.g. {cfg_options_example}')
    parser.add_argument(
        '--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none', help='job launcher')
    parser.add_argument(
        '--local_rank', '--local-rank', type=int, default=0,
        help='set by the launcher (torch.distributed.launch); do not pass '
        'it yourself')


def config_from_args(args: argparse.Namespace) -> Config:
    """The config of ``args.config`` with ``args``' runner options.

    The launcher and the work directory (``--work-dir``, else the config's
    ``work_dir``, else ``./work_dirs/<config name>``) are set, and
    ``LOCAL_RANK`` is exported for launchers that pass ``--local_rank``.
    ``--cfg-options`` is left to the tool, to merge after its own options.

    Args:
        args (argparse.Namespace): Parsed with :func:`add_runner_args`.

    Returns:
        Config: The config.
    """
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join(
            './work_dirs', osp.splitext(osp.basename(args.config))[0])
    return cfg


def run_config(cfg: Config, method: str) -> Tuple[Runner, Any]:
    """Build the config's runner and call ``method`` (``'train'``,
    ``'test'``).

    The runner is ``runner_type`` when the config names one, else mmengine's
    ``Runner``. A :class:`~mmace.utils.errors.ReportedError` is logged as
    one line and ends the process with status 1: its message names the
    culprit, and a traceback would only bury it.

    Args:
        cfg (Config): The config.
        method (str): The runner method to call.

    Returns:
        tuple: The runner and what ``method`` returned.
    """
    from mmpretrain.registry import RUNNERS
    try:
        runner = RUNNERS.build(cfg) if 'runner_type' in cfg \
            else Runner.from_cfg(cfg)
        return runner, getattr(runner, method)()
    except ReportedError as e:
        MMLogger.get_current_instance().error(f'{type(e).__name__}: {e}')
        sys.exit(1)
