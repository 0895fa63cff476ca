"""tools/analysis_tools/expert_norms.py on the session's trained ACE and CE
checkpoints: the Eq. 2 factors, per-class norms and the plot."""
import json
import re
import subprocess

import pytest

import mmace  # noqa: F401  (checkpoints load with weights_only=True)

from conftest import ACE_DIGITS, CE_DIGITS, PYTHON, REPO, run_tool

ACE, CE = ACE_DIGITS, CE_DIGITS
TOOLS = REPO / 'tools/analysis_tools'
PNG_MAGIC = b'\x89PNG\r\n\x1a\n'


def _is_png(path):
    return path.is_file() and path.read_bytes()[:8] == PNG_MAGIC and \
        path.stat().st_size > 10_000


@pytest.mark.slow
def test_expert_norms_prints_eq2_factors_and_plots(trained_digits, tmp_path):
    root, ckpt = tmp_path, trained_digits.ace.last
    plot, dump = root / 'norms.png', root / 'norms.json'
    out = run_tool([
        PYTHON, TOOLS / 'expert_norms.py', ACE, ckpt, '--plot', plot,
        '--json', dump
    ], cwd=root).stdout

    # The same head, loaded here: the printed factors are its Eq. 2 ones.
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmengine.runner import load_checkpoint
    from mmpretrain.registry import MODELS
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(ACE)
    cfg.model.head.class_counts = None
    model = MODELS.build(cfg.model)
    load_checkpoint(model, str(ckpt), map_location='cpu')
    head = model.head
    factors = head.rescale_factors()
    for i, f in enumerate(factors.tolist()):
        assert re.search(rf'E{i + 1} \|\s+\d+ \|\s+{f:.4f}', out), out

    res = json.loads(dump.read_text())
    counts = head.class_counts.long()
    assert res['counts'] == sorted(counts.tolist(), reverse=True)
    order = res['classes']
    for i, clf in enumerate(head.classifiers):
        norms = clf.effective_weight.detach().norm(dim=1)[order]
        assert res['experts'][i]['norm'] == pytest.approx(norms.tolist())
        assert res['experts'][i]['target'] == \
            head.target_masks[i, order].tolist()
    # Expert 3 targets only the rarest classes: the tail of the order.
    assert res['experts'][2]['target'] == [False] * 6 + [True] * 4
    assert _is_png(plot)


@pytest.mark.slow
def test_expert_norms_needs_an_ace_head(trained_digits, tmp_path):
    proc = subprocess.run([
        PYTHON, str(TOOLS / 'expert_norms.py'), str(CE),
        str(trained_digits.ce.last)
    ], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode != 0 and 'not an ACEHead' in proc.stderr
