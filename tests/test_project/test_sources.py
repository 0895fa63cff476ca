"""Every mmace module compiles with warnings as errors (``python -W error``):
no invalid escape sequences in docstrings (a SyntaxWarning since Python
3.12, an error later), which would otherwise only show up on newer Pythons
or when the module is first byte-compiled."""
import warnings

import pytest

from conftest import REPO

SOURCES = sorted(p.relative_to(REPO).as_posix()
                 for p in (REPO / 'mmace').rglob('*.py'))


@pytest.mark.parametrize('path', SOURCES)
def test_module_compiles_without_warnings(path):
    source = (REPO / path).read_text()
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        compile(source, path, 'exec')
