"""What the checkpoint analysis tools (``tools/analysis_tools/``) share:
their ``CONFIG CHECKPOINT [--cfg-options ...]`` command line and the
config it gives."""
import argparse
from typing import Optional

from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope


def checkpoint_parser(description: str,
                      config_help: str) -> argparse.ArgumentParser:
    """A parser with ``config``, ``checkpoint`` and ``--cfg-options``; the
    tool adds its own options."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument('config', help=config_help)
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings (as for tools/test.py)')
    return parser


def load_config(config: str, cfg_options: Optional[dict] = None) -> Config:
    """The config with ``--cfg-options`` merged, its default scope set."""
    cfg = Config.fromfile(config)
    if cfg_options is not None:
        cfg.merge_from_dict(cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    return cfg
