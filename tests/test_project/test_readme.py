"""The README's commands are the ones CI and users actually run."""
import re

from conftest import REPO


def _readme_commands():
    text = (REPO / 'README.md').read_text()
    block = re.search(r'## Quick start.*?```bash\n(.*?)```', text, re.S)
    assert block, 'README has no quick-start code block'
    return [line for line in block.group(1).splitlines()
            if line and not line.startswith('#')]


def test_readme_has_exactly_two_setup_commands():
    commands = _readme_commands()
    assert len(commands) == 2, commands
    assert commands[0].startswith('pip install') and 'tools/train.py' in \
        commands[0]
    assert commands[1].startswith('pip install') and 'pytest' in commands[1]


def test_ci_runs_the_readme_test_command():
    ci = (REPO / '.ci/run').read_text().splitlines()
    assert _readme_commands()[1] in ci


def test_readme_main_job_config_exists_and_needs_no_download():
    config = re.search(r'tools/train.py (\S+)', _readme_commands()[0])[1]
    text = (REPO / config).read_text()
    assert (REPO / config).is_file()
    # The quick start trains on data bundled with a dependency.
    base = (REPO / 'configs/_base_/datasets/digits_lt.py').read_text()
    assert 'digits_lt.py' in text and "type='LTDigits'" in base
