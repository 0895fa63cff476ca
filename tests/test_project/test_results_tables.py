"""The READMEs' results tables are rendered from the metafiles, and the
metafiles say how each number was produced
(``.dev_scripts/update_results_tables.py``)."""
import copy
import functools
import importlib.util
import re
import shlex
import shutil

import pytest
from mmengine.config import Config, DictAction

from conftest import PYTHON, REPO, run_failing, run_tool

SCRIPT = REPO / '.dev_scripts' / 'update_results_tables.py'


def _load_script():
    spec = importlib.util.spec_from_file_location('update_results_tables',
                                                  SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tables = _load_script()


def _copy_repo_docs(dst):
    """The files the script reads, in a scratch checkout."""
    shutil.copy2(REPO / 'model-index.yml', dst / 'model-index.yml')
    shutil.copy2(REPO / 'README.md', dst / 'README.md')
    for path in REPO.glob('configs/*/*'):
        if path.name in ('README.md', 'metafile.yml'):
            target = dst / path.relative_to(REPO)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
    return dst


def _cfg_options(text):
    """``--cfg-options`` words as mmengine's DictAction parses them."""
    action = DictAction(option_strings=['--cfg-options'], dest='cfg')

    class Namespace:
        pass

    namespace = Namespace()
    action(None, namespace, shlex.split(text or ''))
    return getattr(namespace, 'cfg', {}) or {}


def test_the_readmes_match_the_metafiles():
    proc = run_tool([PYTHON, SCRIPT, '--check'], cwd=REPO)
    assert proc.stdout == ''


def test_a_number_edited_by_hand_fails_the_check(tmp_path):
    repo = _copy_repo_docs(tmp_path)
    readme = repo / 'configs/ace/README.md'
    text = readme.read_text()
    # The first rendered ACE row of the first table, one digit changed.
    row = next(line for line in text.splitlines()
               if line.startswith('| ACE, aggregated'))
    edited = row.replace('65.08', '65.18')
    assert edited != row
    readme.write_text(text.replace(row, edited))
    stale = tables.update(repo, check=True)
    assert [p.name for p, _, _ in stale] == ['README.md']
    assert stale[0][0] == readme
    # ...and rendering restores the metafile's number.
    tables.update(repo)
    assert readme.read_text() == text


def test_the_cli_check_exits_non_zero_on_a_stale_table(tmp_path):
    repo = _copy_repo_docs(tmp_path)
    # The script renders the checkout it lives in: run a copy of it there.
    (repo / '.dev_scripts').mkdir()
    shutil.copy2(SCRIPT, repo / '.dev_scripts')
    shutil.copy2(SCRIPT.with_name('results_tables.yml'), repo / '.dev_scripts')
    meta = repo / 'configs/baseline/metafile.yml'
    text = meta.read_text()
    assert text.count('Top 1 Accuracy: 56.56') == 1
    meta.write_text(text.replace('Top 1 Accuracy: 56.56',
                                 'Top 1 Accuracy: 57.56'))
    out = run_failing([PYTHON, repo / '.dev_scripts/update_results_tables.py',
                       '--check'], cwd=repo)
    assert '-| CE baseline | 0 | 56.56 |' in out
    assert '+| CE baseline | 0 | 57.56 |' in out


def test_a_table_refuses_what_the_metafiles_lack():
    models = tables.load_models()
    row = dict(entry='ace_r32_cifar10-lt-100_30e-cpu')
    column = dict(header='top-1', metric='Top 1 Accuracy')
    spec = dict(columns=[column], rows=[row])
    assert '65.08' in tables.render_table('t', spec, models)
    with pytest.raises(tables.TableError, match='no model'):
        tables.render_table('t', dict(spec, rows=[dict(entry='nope')]),
                            models)
    with pytest.raises(tables.TableError, match="no read-out 'squared'"):
        tables.render_table(
            't', dict(spec, rows=[dict(row, **{'read-out': 'squared'})]),
            models)
    with pytest.raises(tables.TableError, match="no metric 'Top 5'"):
        tables.render_table(
            't', dict(spec, columns=[dict(column, metric='Top 5')]), models)
    with pytest.raises(tables.TableError, match='has no table'):
        tables.render_page('<!-- results:start nope -->\n'
                           '<!-- results:end -->', {}, models)


def _with_results():
    return [m for m in tables.load_models().values() if m.get('Results')]


def test_every_result_says_how_it_was_produced():
    for model in _with_results():
        meta = model['Metadata']
        assert meta.get('Training Resources'), model['Name']
        assert meta.get('Commit'), model['Name']
        assert meta.get('Epochs') or meta.get('Iterations'), model['Name']
        # A result of a run other than the config's own schedule and seed
        # carries the options or the command that reproduce it.
        if model['Name'] != model['Config'].rsplit('/', 1)[1][:-3]:
            assert meta.get('Cfg Options') is not None or meta.get(
                'Command') or 'Checkpoint' in meta, model['Name']


@functools.lru_cache(maxsize=None)
def _config(path):
    """``Config.fromfile`` once per config: the read-outs of one config
    are dozens of entries."""
    return Config.fromfile(REPO / path)


def _cls_head(model, options=''):
    """The config's ACE head (CIFAR-10-LT-100 counts), with the entry's
    ``Cfg Options`` and ``options`` applied."""
    from mmpretrain.registry import MODELS

    from mmace.datasets import long_tail_profile
    cfg = copy.deepcopy(_config(model['Config']))
    cfg.merge_from_dict(_cfg_options(model['Metadata'].get('Cfg Options')))
    cfg.merge_from_dict(_cfg_options(options))
    cfg.model.head.class_counts = [
        int(n) for n in long_tail_profile(10, 5000, 100)]
    return cfg, MODELS.build(cfg.model.head)


def _cifar10_ace_entries():
    return [m for m in _with_results()
            if m['Metadata']['Training Data'] == 'CIFAR-10-LT-100'
            and 'ACE (3 experts)' in m['Metadata']['Architecture']]


def test_every_read_out_is_an_option_the_head_accepts():
    entries = _cifar10_ace_entries()
    assert entries
    for model in entries:
        for name, options in (model['Metadata'].get('Read-outs')
                              or {}).items():
            # Built with the options: a misspelt or unknown option fails.
            _, head = _cls_head(model, options)
            if name.startswith('expert'):
                assert head.readout_expert == int(name[-1]), (model['Name'],
                                                              name)


def test_the_lr_factors_are_the_constructors():
    """Table 6's column is what ACEOptimWrapperConstructor gives each run's
    config and options, not a number typed in."""
    from mmpretrain.registry import MODELS

    from mmace.engine.optimizers import ACEOptimWrapperConstructor
    entries = [m for m in _cifar10_ace_entries()
               if 'Expert LR Factors' in m['Metadata']]
    assert len(entries) == 3
    for model in entries:
        cfg, _ = _cls_head(model)
        net = MODELS.build(cfg.model)
        optim_cfg = cfg.optim_wrapper.copy()
        assert optim_cfg.pop('constructor') == 'ACEOptimWrapperConstructor'
        paramwise_cfg = optim_cfg.pop('paramwise_cfg')
        wrapper = ACEOptimWrapperConstructor(optim_cfg, paramwise_cfg)(net)
        base = cfg.optim_wrapper.optimizer.lr
        # The shared trunk and expert 1 at factor 1, the others scaled.
        factors = {round(g['lr'] / base, 3)
                   for g in wrapper.optimizer.param_groups}
        assert factors == {
            float(f) for f in model['Metadata']['Expert LR Factors'].split(',')
        }, model['Name']


def _metric_values():
    values = set()
    for model in tables.load_models().values():
        for result in model.get('Results') or []:
            for value in result['Metrics'].values():
                if isinstance(value, (int, float)):
                    values.add(f'{value:.2f}')
    return values


def test_every_result_the_readme_quotes_is_in_a_metafile():
    """The README's prose quotes results (e.g. "ACE 65.08, CE 56.56"):
    each is a metafile number, so it cannot drift from the tables."""
    text = (REPO / 'README.md').read_text()
    prose = re.sub(r'```.*?```', '', text, flags=re.S)
    # Paragraphs about versions (Python 3.11, ...) quote no result.
    prose = '\n\n'.join(p for p in prose.split('\n\n')
                         if 'Python' not in p)
    quoted = set(re.findall(r'(?<![\d.])(\d{1,3}\.\d\d)(?![\d.])', prose))
    assert quoted, 'the README quotes no result'
    assert quoted <= _metric_values(), sorted(quoted - _metric_values())


def test_every_results_table_is_rendered():
    """A table typed into a results page, outside the markers, would escape
    the check: every table row with a number is a rendered one."""
    for page in tables.readme_paths():
        rendered = False
        for line in page.read_text().splitlines():
            if tables.START.match(line):
                rendered = True
            elif line == tables.END:
                rendered = False
            elif line.startswith('|') and re.search(r'\d\.\d', line):
                assert rendered, f'{page.relative_to(REPO)}: {line[:60]}'
