"""A config's ``compile`` compiles the model's backbone, neck and head loss
module in place (not mmengine's whole train_step); a compiled train step
computes the eager step's loss and update, and the learning rates the
schedulers write do not recompile anything."""
import copy

import pytest
import torch
from mmengine.optim import OptimWrapper

from conftest import ACE_DIGITS, PYTHON, REPO, ace_cifar_model, run_tool
from mmace.engine.fast_path import set_compile
from mmace.engine.runners.compile import (compile_model_parts,
                                          compile_options)
from mmace.utils.errors import ConfigError

COUNTS = [40, 30, 20, 12, 9, 7, 5, 4, 3, 2]
# Normalised inputs: raw 0-255 pixels make the loss grow without bound.
NORMALISE = dict(type='ClsDataPreprocessor', mean=[127.5] * 3,
                 std=[64.] * 3)


def test_compile_options_are_torch_compiles_arguments():
    assert compile_options(None) is None and compile_options(False) is None
    assert compile_options(True) == {}
    assert compile_options(dict(mode='reduce-overhead')) == dict(
        mode='reduce-overhead')
    with pytest.raises(ConfigError, match=r"\['modes'\]"):
        compile_options(dict(modes='reduce-overhead'))
    with pytest.raises(ConfigError, match="'yes'"):
        compile_options('yes')


def test_set_compile_keeps_the_configs_other_options():
    from mmengine.config import Config
    cfg = Config(dict(compile=dict(backend='aot_eager')))
    set_compile(cfg)
    assert cfg.compile == dict(backend='aot_eager')
    set_compile(cfg, 'max-autotune')
    assert cfg.compile == dict(backend='aot_eager', mode='max-autotune')
    cfg = Config(dict(compile=True))
    set_compile(cfg, 'reduce-overhead')
    assert cfg.compile == dict(mode='reduce-overhead')


def test_parts_compile_in_place_and_checkpoints_keep_their_names():
    model = ace_cifar_model(COUNTS, depth=20)
    keys = list(model.state_dict())
    parts = compile_model_parts(model, dict(backend='aot_eager'))
    assert parts == ['backbone', 'neck', 'head.loss_module']
    assert list(model.state_dict()) == keys
    # A model with none of them is refused, not silently left eager.
    with pytest.raises(ConfigError, match='none of'):
        compile_model_parts(torch.nn.Linear(2, 2), {})


def _step(model, optim_wrapper, data):
    log_vars = model.train_step(copy.deepcopy(data), optim_wrapper)
    return log_vars['loss'].detach()


def test_a_compiled_train_step_is_the_eager_one_and_lr_changes_do_not_recompile():
    torch.manual_seed(0)
    eager = ace_cifar_model(COUNTS, depth=20, data_preprocessor=NORMALISE)
    compiled = copy.deepcopy(eager)
    compile_model_parts(compiled, dict(backend='aot_eager'))
    wrappers = [
        OptimWrapper(torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9,
                                     weight_decay=5e-4))
        for m in (eager, compiled)
    ]
    from conftest import samples
    data = dict(inputs=[torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8)
                        for _ in range(8)],
                data_samples=samples([0, 1, 2, 3, 4, 5, 6, 0]))
    torch._dynamo.reset()
    counters = torch._dynamo.utils.counters
    graphs = []
    for lr in (0.01, 0.005, 0.002, 0.001):  # a scheduler's writes
        for wrapper in wrappers:
            for group in wrapper.optimizer.param_groups:
                group['lr'] = lr
        losses = [_step(m, w, data) for m, w in zip((eager, compiled),
                                                      wrappers)]
        torch.testing.assert_close(losses[1], losses[0], rtol=1e-5,
                                   atol=1e-6)
        graphs.append(counters['stats']['unique_graphs'])
    for (name, a), b in zip(eager.state_dict().items(),
                            compiled.state_dict().values()):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-6, msg=name)
    # Compiled once (forward; its backward with it), never again.
    assert graphs[0] > 0 and graphs == [graphs[0]] * len(graphs), graphs


@pytest.mark.slow
def test_train_compile_runs_the_parts_as_whole_graphs(tmp_path):
    proc = run_tool([
        PYTHON, REPO / 'tools/train.py', ACE_DIGITS, '--work-dir',
        tmp_path / 'work', '--no-validate', '--compile', '--cfg-options',
        'compile.backend=aot_eager', 'train_cfg.max_epochs=1'
    ], cwd=tmp_path, env={'OMP_NUM_THREADS': '1',
                          'TORCH_LOGS': 'graph_breaks'})
    out = proc.stdout + proc.stderr
    assert ("torch.compile(backend='aot_eager') on model.backbone, "
            'model.neck, model.head.loss_module') in out
    assert 'Graph break' not in out
    assert (tmp_path / 'work/epoch_1.pth').is_file()
