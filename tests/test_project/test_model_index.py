"""model-index.yml / metafiles, shipped so that `mim search mmace` works."""
import re
import shutil

import pytest
import yaml

from conftest import PYTHON, REPO, run_tool

CONFIG_DIRS = ('configs/ace', 'configs/baseline', 'configs/det',
               'configs/quickstart', 'configs/seg')


def _models():
    index = yaml.safe_load((REPO / 'model-index.yml').read_text())
    models = []
    for metafile in index['Import']:
        models += yaml.safe_load((REPO / metafile).read_text())['Models']
    return models


def test_every_config_is_indexed_once_and_every_entry_exists():
    models = _models()
    names = [m['Name'] for m in models]
    assert len(names) == len(set(names)), 'model names must be unique'
    for m in models:
        assert (REPO / m['Config']).is_file(), m['Config']
    configs = {
        str(p.relative_to(REPO))
        for d in CONFIG_DIRS for p in (REPO / d).rglob('*.py')
        if '_base_' not in p.parts
    }
    # Every config family with a metafile is imported.
    imported = set(yaml.safe_load(
        (REPO / 'model-index.yml').read_text())['Import'])
    assert imported == {
        str(p.relative_to(REPO)) for p in REPO.glob('configs/*/metafile.yml')
    }
    # Each config has the entry named after it (runs may add more).
    indexed = {m['Config'] for m in models if
               m['Name'] == m['Config'].rsplit('/', 1)[1][:-3]}
    assert indexed == configs


def test_model_index_loads_with_modelindex():
    modelindex = pytest.importorskip('modelindex')  # installed with openmim
    index = modelindex.load(str(REPO / 'model-index.yml'))
    assert len(index.models) == len(_models())
    assert {c.name for c in index.collections} == {'ACE', 'CE baseline'}


def test_results_are_our_runs_with_their_schedule():
    with_results = [m for m in _models() if m.get('Results')]
    assert with_results
    for m in with_results:
        meta = m['Metadata']
        assert 'Training Resources' in meta, m['Name']
        assert meta.get('Epochs', 0) > 0 or meta.get('Iterations', 0) > 0
        if m['Name'].endswith('_30e-cpu'):
            # A schedule other than the config's own is spelled out.
            assert 'max_epochs=30' in meta['Cfg Options'], m['Name']
            assert meta['Epochs'] == 30


def test_metadata_values_are_what_mim_can_show():
    """mim 0.3 joins list values as strings: lists must hold strings."""
    for m in _models():
        for key, value in m['Metadata'].items():
            if isinstance(value, list):
                assert all(isinstance(v, str) for v in value), (m['Name'],
                                                                key)


@pytest.fixture(scope='module')
def installed(tmp_path_factory):
    """mmace installed as a user's `pip install .` does (not editable).

    mim 0.3 looks for `<site-packages>/mmace/.mim/model-index.yml`, which
    only a regular install has; the copy keeps the checkout clean.
    """
    root = tmp_path_factory.mktemp('mim')
    src = root / 'src'
    src.mkdir()
    for name in ('setup.py', 'README.md', 'MANIFEST.in', 'model-index.yml'):
        shutil.copy2(REPO / name, src / name)
    for name in ('requirements', 'mmace', 'configs', 'tools'):
        shutil.copytree(REPO / name, src / name,
                        ignore=shutil.ignore_patterns('__pycache__'))
    site = root / 'site'
    run_tool([
        PYTHON, '-m', 'pip', 'install', '--no-deps', '--no-build-isolation',
        '--no-index', '--target', site, src
    ], cwd=root, timeout=300)
    assert (site / 'mmace' / '.mim' / 'model-index.yml').is_file()
    assert (site / 'mmace' / '.mim' / 'configs' / 'ace' /
            'metafile.yml').is_file()
    return root, site


def _mim(installed, *args):
    root, site = installed
    return run_tool([PYTHON, '-m', 'mim', 'search', 'mmace', *args],
                    cwd=root, env={'PYTHONPATH': str(site)}).stdout


def test_mim_search_lists_the_models(installed):
    out = _mim(installed, '--valid-config')
    listed = set(re.findall(r"'([^']+)'", out))
    assert listed == {m['Name'] for m in _models()}


def test_mim_search_shows_results_and_schedule(installed):
    # Read-out metrics make long keys: a display wide enough for values.
    out = _mim(installed, '--config', 'ace_r32_cifar10-lt-100_30e-cpu',
               '--display-width', '200')
    assert re.search(r'cifar-10-lt-100/top_1_accuracy\s+\d+\.\d+', out), out
    assert re.search(r'epochs\s+30\b', out), out
    assert 'configs/ace/ace_r32_cifar10-lt-100.py' in out
    # A config nobody ran at its schedule shows no result.
    out = _mim(installed, '--config', 'ace_r50_imagenet-lt')
    assert 'accuracy' not in out and re.search(r'epochs\s+180\b', out), out
