"""The commands of the README and of the docs work as written.

Every ``python tools/...`` / ``.dev_scripts/...`` command of a ``bash``
block (README.md, configs/*/README.md, docs/**/*.md) is split as bash
would split it (line continuations, variables set earlier in the block,
``&&`` chains), parsed by the tool's own argument parser, and its config
loaded with its ``--cfg-options`` applied: every option must name a key the
config has, or an argument of the component it configures. The quick
start's config builds and trains on bundled data.
"""
import argparse
import copy
import functools
import inspect
import re
import shlex
from pathlib import Path

import pytest
from mmengine.config import Config, DictAction

from conftest import REPO, parse_tool_args

README = REPO / 'README.md'
PAGES = sorted([README, *REPO.glob('configs/*/README.md'),
                *REPO.glob('docs/**/*.md')])
SCRIPT = re.compile(r'^(tools|\.dev_scripts)/\S+\.py$')


def _bash_blocks(path):
    return re.findall(r'```bash\n(.*?)```', path.read_text(), re.S)


def _commands(block):
    """The python script invocations of a bash block, as argv lists."""
    variables, commands = {}, []
    for line in re.sub(r'\\\n', ' ', block).splitlines():
        words = shlex.split(line, comments=True)
        # Unquoted $VAR: word splitting, no quote removal (as bash does).
        expanded = []
        for word in words:
            if re.fullmatch(r'\$\{?\w+\}?', word):
                expanded += variables.get(word.strip('${}'), '').split()
            else:
                expanded.append(word)
        if len(expanded) == 1 and re.match(r'^[A-Z_]\w*=', expanded[0]):
            name, value = expanded[0].split('=', 1)
            variables[name] = value
            continue
        # One command per `&&` step; leading VAR=value words are env.
        step = []
        for word in expanded + ['&&']:
            if word != '&&':
                step.append(word)
                continue
            while step and re.match(r'^[A-Z_]\w*=', step[0]):
                step.pop(0)
            if len(step) > 1 and step[0] == 'python' and SCRIPT.match(
                    step[1]):
                commands.append(step[1:])
            step = []
    return commands


def _page_commands():
    found = []
    for page in PAGES:
        for block in _bash_blocks(page):
            for argv in _commands(block):
                found.append(
                    pytest.param(argv, id=f'{page.relative_to(REPO)}:'
                                 f'{" ".join(argv)[:60]}'))
    return found




def _component_accepts(cfg, key):
    """Whether the registered class of ``cfg['type']`` takes ``key``."""
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import (DATASETS, HOOKS, METRICS, MODELS,
                                     PARAM_SCHEDULERS, TRANSFORMS)
    type_ = cfg.get('type')
    if not isinstance(type_, str):
        return True
    for registry in (MODELS, HOOKS, PARAM_SCHEDULERS, DATASETS, METRICS,
                     TRANSFORMS):
        scope = type_.split('.', 1)[0] if '.' in type_ else None
        with DefaultScope.overwrite_default_scope(scope or 'mmpretrain'):
            cls = registry.get(type_)
        if cls is not None:
            params = inspect.signature(cls).parameters.values()
            return key in [p.name for p in params] or any(
                p.kind is p.VAR_KEYWORD for p in params)
    return True  # a type of another library's registry: not checked here


def _check_option(cfg, key):
    """``key`` (dotted, list items by index) is in ``cfg``, or is an
    argument of the component that holds it."""
    node = cfg.to_dict()
    parts = key.split('.')
    for i, part in enumerate(parts):
        if isinstance(node, (list, tuple)):
            assert part.isdigit() and int(part) < len(node), \
                f'{key}: no item {part} in a list of {len(node)}'
            node = node[int(part)]
            continue
        assert isinstance(node, dict), f'{key}: {parts[i - 1]} is no dict'
        if part in node:
            node = node[part]
            continue
        where = '.'.join(parts[:i]) or 'the config'
        assert 'type' in node and _component_accepts(node, part), \
            f'{key}: {where} ({node.get("type")}) has no {part!r}'
        # An argument the config leaves at its default (e.g. an ACEHead's
        # `loss`): its own keys are the component's to check when built.
        return


@functools.lru_cache(maxsize=None)
def _config(path):
    """``Config.fromfile`` once per config (many commands share one)."""
    return Config.fromfile(REPO / path)


@pytest.mark.parametrize('argv', _page_commands())
def test_documented_command_parses_and_its_options_exist(argv):
    args = parse_tool_args(argv)
    config = getattr(args, 'config', None)
    if config is None or not config.startswith('configs/'):
        return
    cfg = copy.deepcopy(_config(config))
    options = getattr(args, 'cfg_options', None) or {}
    if isinstance(options, list):  # passed on as words (multi_seed.py)
        action = DictAction(option_strings=['--cfg-options'], dest='o')
        namespace = argparse.Namespace()
        action(None, namespace, options)
        options = namespace.o
    for key in options:
        _check_option(cfg, key)
    cfg.merge_from_dict(options)


def test_the_docs_have_commands_to_check():
    # Guards the extraction above: a change of format must not make the
    # parametrised test silently check nothing.
    scripts = {argv[0] for argv in (p.values[0] for p in _page_commands())}
    assert {'tools/train.py', 'tools/test.py',
            'tools/analysis_tools/multi_seed.py'} <= scripts


def test_every_config_the_docs_name_exists():
    for page in PAGES:
        for path in re.findall(r'configs/[\w./-]+?\.py', page.read_text()):
            assert (REPO / path).is_file(), f'{page.name}: {path}'


def _quick_start():
    assert README.is_file()
    text = README.read_text()
    block = re.search(r'## Quick start.*?```bash\n(.*?)```', text, re.S)
    assert block, 'README has no quick-start code block'
    return [line for line in block.group(1).splitlines()
            if line and not line.startswith('#')]


def test_the_quick_start_is_install_then_train_then_test():
    install_train, install_test = _quick_start()
    assert install_train.startswith('pip install -r requirements/pinned.txt')
    assert 'tools/train.py configs/quickstart/' in install_train
    assert install_test.startswith('pip install -r requirements/pinned.txt')
    assert 'python -m pytest tests' in install_test
    # The files the install commands name exist.
    for cmd in (install_train, install_test):
        for req in re.findall(r'-r (\S+)', cmd):
            assert (REPO / req).is_file(), req


def test_ci_runs_the_readme_test_command():
    ci = (REPO / '.ci/run').read_text().splitlines()
    assert _quick_start()[1] in ci


def test_the_quick_start_trains_on_bundled_data():
    """Command 1's config needs no download: its train and test sets build
    from scikit-learn's bundled digits, and its model from the config."""
    from mmpretrain.registry import DATASETS, MODELS

    from mmace.datasets import get_class_counts
    config = re.search(r'tools/train.py (\S+)', _quick_start()[0])[1]
    cfg = Config.fromfile(REPO / config)
    train = DATASETS.build(cfg.train_dataloader.dataset)
    test = DATASETS.build(cfg.test_dataloader.dataset)
    counts = get_class_counts(train)
    assert len(counts) == 10 and counts[0] > counts[-1] > 0
    assert len(test) > 0
    cfg.model.head.class_counts = [int(n) for n in counts]
    MODELS.build(cfg.model)


def test_the_python_requirement_is_what_the_pins_need():
    """README and requirements/pinned.txt agree on the Python version the
    README's commands need."""
    text = README.read_text()
    pins = (REPO / 'requirements/pinned.txt').read_text()
    needs = re.search(r'Python (3\.\d+) or later', text)
    assert needs, 'README does not say which Python its commands need'
    for pin in ('numpy==', 'scikit-learn==', 'torch=='):
        assert pin in pins
    assert f'need Python {needs[1]}' in pins


def test_setup_py_python_requires_holds_for_the_package_code():
    """setup.py's python_requires and classifiers describe the package:
    every module parses with the oldest Python it claims."""
    import ast
    setup = (REPO / 'setup.py').read_text()
    minimum = re.search(r"python_requires='>=3\.(\d+)'", setup)
    assert minimum
    oldest = int(minimum[1])
    classified = sorted(
        int(v) for v in re.findall(r'Python :: 3\.(\d+)\'', setup))
    assert classified and classified[0] == oldest
    assert classified == list(range(oldest, classified[-1] + 1))
    for path in [*(REPO / 'mmace').rglob('*.py'), REPO / 'setup.py']:
        ast.parse(path.read_text(), filename=str(path),
                  feature_version=(3, oldest))


def test_the_page_list_is_not_empty():
    assert README in PAGES and len(PAGES) > 5
    assert all(isinstance(p, Path) and p.is_file() for p in PAGES)
