"""Render the results tables of the READMEs from the model index.

The numbers live in one place, the metafiles that ``model-index.yml``
imports (``configs/*/metafile.yml``), each with the config, schedule,
``Cfg Options`` and read-outs of the run that produced it. The READMEs hold
only the prose and, between marker comments, tables rendered from them::

    <!-- results:start cifar10-lt-100-30e -->
    | model | top-1 | ... |        (rendered; do not edit by hand)
    <!-- results:end -->

The layout of each named table (its columns and which model and read-out
each row shows) is in ``results_tables.yml`` beside this script.

Usage::

    python .dev_scripts/update_results_tables.py          # rewrite the READMEs
    python .dev_scripts/update_results_tables.py --check  # exit 1 if stale

A cell comes from the metafile as:

- ``metric: NAME``: ``Metrics[NAME]`` of the row's model's first result
  (or the one on the column's ``dataset``), read out as the row's (or the
  column's) ``read-out``: the metric ``NAME (READ-OUT)``, where READ-OUT
  must be one of the model's ``Metadata['Read-outs']`` (label: the
  ``--cfg-options`` that read the checkpoint that way; empty for the
  model's own read-out, whose metric is plain ``NAME``). ``std: true``
  adds `` ± `` and ``NAME Std``; ``digits`` (2) the decimals; a null
  metric (not defined for this run) prints ``-``;
- ``metrics: [A, B, ...]``: those values joined with `` / ``;
- ``meta: KEY``: ``Metadata[KEY]`` (lists joined with ``, ``; a mapping is
  indexed by the read-out);
- ``config: true``: the model's config, relative to ``configs/``;
- otherwise the row's ``text`` under the column's key (labels).

A row shows the metafile model ``entry``, or several (``entry: [a, b]``,
e.g. two seeds): each computed cell then
joins their values with `` / ``. ``bold: [key, ...]`` bolds those cells,
``blank: [key, ...]`` leaves them empty (a column's key is its header unless
it sets ``key``).
"""
import argparse
import difflib
import re
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SPEC = Path(__file__).with_name('results_tables.yml')
START = re.compile(r'^<!-- results:start (\S+) -->$')
END = '<!-- results:end -->'


class TableError(ValueError):
    """A table names a model, metric or read-out the metafiles lack."""


def load_models(repo: Path = REPO) -> dict:
    """Every model of ``model-index.yml``, by name."""
    index = yaml.safe_load((repo / 'model-index.yml').read_text())
    models = {}
    for metafile in index['Import']:
        for model in yaml.safe_load((repo / metafile).read_text())['Models']:
            if model['Name'] in models:
                raise TableError(f'{metafile}: model {model["Name"]!r} is '
                                 'indexed twice')
            models[model['Name']] = model
    return models


def readme_paths(repo: Path = REPO) -> list:
    """The pages that hold rendered tables."""
    return [repo / 'README.md', *sorted(repo.glob('configs/*/README.md'))]


def _metric(model: dict, name: str, readout, dataset=None):
    """``name`` of the model's result on ``dataset`` (default: its first),
    read out as ``readout`` (None: the model's own read-out)."""
    if readout:
        declared = model.get('Metadata', {}).get('Read-outs') or {}
        if readout not in declared:
            raise TableError(
                f'model {model["Name"]!r} has no read-out {readout!r} in '
                f'Metadata.Read-outs (it has {sorted(declared)})')
        # A read-out without options is the model's own (its Cfg Options).
        if declared[readout]:
            name = f'{name} ({readout})'
    results = [r for r in model.get('Results') or []
               if dataset is None or r['Dataset'] == dataset]
    metrics = results[0]['Metrics'] if results else {}
    if name not in metrics:
        where = f' on {dataset!r}' if dataset else ''
        raise TableError(
            f'model {model["Name"]!r} has no metric {name!r}{where}')
    return metrics[name]


def _number(value, digits: int = 2) -> str:
    """A metric as the tables print it; None (not defined) is ``-``."""
    if value is None:
        return '-'
    return f'{float(value):.{digits}f}'


def _cell(column: dict, row: dict, models: list) -> str:
    header = column.get('key', column['header'])
    readout = row.get('read-out', column.get('read-out'))
    dataset = column.get('dataset')
    digits = column.get('digits', 2)
    if 'metric' in column:
        def one(model):
            name = column['metric']
            text = _number(_metric(model, name, readout, dataset), digits)
            if column.get('std'):
                std = _metric(model, name + ' Std', readout, dataset)
                text += f' ± {_number(std, digits)}'
            return text
    elif 'metrics' in column:
        def one(model):
            return ' / '.join(
                _number(_metric(model, name, readout, dataset), digits)
                for name in column['metrics'])
    elif 'meta' in column:
        def one(model):
            value = model.get('Metadata', {}).get(column['meta'])
            if isinstance(value, dict):  # one value per read-out
                value = value.get(readout)
            if value is None:
                raise TableError(
                    f'model {model["Name"]!r} has no Metadata.'
                    f'{column["meta"]}' + (f' for {readout!r}'
                                           if readout else ''))
            if isinstance(value, list):
                return ', '.join(str(v) for v in value)
            return str(value)
    elif column.get('config'):
        def one(model):
            return '`' + model['Config'].split('configs/', 1)[1] + '`'
    else:
        return str(row.get('text', {}).get(header, ''))
    if row.get('blank') and header in row['blank']:
        return ''
    text = ' / '.join(one(m) for m in models)
    return f'**{text}**' if header in row.get('bold', ()) else text


def render_table(name: str, spec: dict, models: dict) -> str:
    """The markdown table ``name`` of ``results_tables.yml``."""
    columns = spec['columns']
    lines = ['| ' + ' | '.join(c['header'] for c in columns) + ' |',
             '| ' + ' | '.join('---' for _ in columns) + ' |']
    for row in spec['rows']:
        names = row['entry'] if isinstance(row['entry'], list) else [
            row['entry']]
        missing = [n for n in names if n not in models]
        if missing:
            raise TableError(f'table {name!r}: no model {missing} in the '
                             'metafiles of model-index.yml')
        row_models = [models[n] for n in names]
        try:
            cells = [_cell(c, row, row_models) for c in columns]
        except TableError as e:
            raise TableError(f'table {name!r}: {e}') from None
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def render_page(text: str, tables: dict, models: dict,
                used: set = None) -> str:
    """``text`` with every marked table re-rendered."""
    out, lines, i = [], text.split('\n'), 0
    while i < len(lines):
        match = START.match(lines[i])
        out.append(lines[i])
        i += 1
        if not match:
            continue
        name = match.group(1)
        if name not in tables:
            raise TableError(f'marker {name!r} has no table in {SPEC.name}')
        end = next((j for j in range(i, len(lines)) if lines[j] == END),
                   None)
        if end is None:
            raise TableError(f'marker {name!r} has no {END}')
        out.append(render_table(name, tables[name], models))
        out.append(END)
        i = end + 1
        if used is not None:
            used.add(name)
    return '\n'.join(out)


def update(repo: Path = REPO, check: bool = False,
           spec: Path = SPEC) -> list:
    """Render every page; return the pages that differ (not rewritten when
    ``check``)."""
    tables = yaml.safe_load(spec.read_text())
    models = load_models(repo)
    used, stale = set(), []
    for path in readme_paths(repo):
        text = path.read_text()
        new = render_page(text, tables, models, used)
        if new != text:
            stale.append((path, text, new))
    unused = sorted(set(tables) - used)
    if unused:
        raise TableError(f'tables {unused} of {spec.name} have no marker in '
                         'any README')
    if not check:  # only once every page rendered without an error
        for path, _, new in stale:
            path.write_text(new)
    return stale


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--check', action='store_true',
        help='change nothing; print the differences and exit 1 when a '
        'README table disagrees with the metafiles')
    args = parser.parse_args(argv)
    try:
        stale = update(check=args.check)
    except TableError as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    for path, old, new in stale:
        rel = str(path.relative_to(REPO))
        if args.check:
            sys.stdout.writelines(difflib.unified_diff(
                old.splitlines(True), new.splitlines(True), rel, rel))
        else:
            print(f'updated {rel}')
    return 1 if args.check and stale else 0


if __name__ == '__main__':
    sys.exit(main())
