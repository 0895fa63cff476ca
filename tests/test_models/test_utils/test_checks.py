"""Bad ACE options fail at build time with one message naming the key
(issue 9, cases 6 and 7), through the real tools."""
import subprocess

import pytest
import torch

from mmace.models import ACEBackbone, ACEHead
from mmace.models.utils.checks import check_num_experts_match

from conftest import PYTHON, REPO

ACE_DIGITS = REPO / 'configs/quickstart/ace_r32_digits-lt.py'
R32 = dict(type='CIFARResNet', depth=32)


@pytest.mark.parametrize('kwargs, error, match', [
    (dict(num_experts='3'), TypeError, r"num_experts='3' must be an integer"),
    (dict(num_experts=2.0), TypeError, r'num_experts=2.0 must be an integer'),
    (dict(num_experts=True), TypeError, r'num_experts=True'),
    (dict(num_experts=0), ValueError, r'num_experts=0 must be >= 1'),
    (dict(num_classes='10'), TypeError, r"num_classes='10'"),
    (dict(rescale='Squared'), ValueError, r"unknown rescale 'Squared'"),
    (dict(norm_reduce='avg'), ValueError, r"unknown norm_reduce 'avg'"),
    (dict(norm_over=['target']), ValueError, r'unknown norm_over'),
    (dict(aggregation=1), ValueError, r'unknown aggregation 1'),
    (dict(scale_bias='yes'), TypeError, r"scale_bias='yes' must be True"),
    (dict(loss=dict(split_specific=1)), TypeError, r'split_specific=1'),
    (dict(loss=dict(loss_weight='1')), TypeError,
     r"loss_weight='1' must be a number"),
    (dict(loss=dict(complement_form='frobenius')), ValueError,
     r"unknown complement_form 'frobenius'"),
    (dict(loss='ACELoss'), TypeError, r'loss must be an ACELoss config'),
    (dict(planner='shares'), ValueError, r"unknown planner 'shares'"),
    (dict(planner='share'), TypeError,
     r"planner='share' needs share_thresholds"),
    (dict(planner='share', share_thresholds=[0.05, 0.3]), ValueError,
     r'share_thresholds=\[0.05, 0.3\] must be strictly decreasing'),
    (dict(share_thresholds=[0.3, 0.05]), ValueError,
     r"share_thresholds=\[0.3, 0.05\] is only used with planner='share'"),
    (dict(rescale_inverse=1), TypeError, r'rescale_inverse=1'),
    (dict(norm_weight='lws'), ValueError, r"unknown norm_weight 'lws'"),
])
def test_head_option_types(kwargs, error, match):
    args = dict(num_classes=10, in_channels=8, class_counts=None)
    args.update(kwargs)
    owner = 'ACELoss' if isinstance(kwargs.get('loss'), dict) else 'ACEHead'
    with pytest.raises(error, match=f'{owner}: ' + match):
        ACEHead(**args)


@pytest.mark.parametrize('kwargs, error, match', [
    (dict(num_experts='3'), TypeError, r"num_experts='3' must be an integer"),
    (dict(num_blocks='1'), TypeError, r"num_blocks='1' must be an integer"),
    (dict(detach_experts='no'), TypeError, r"detach_experts='no'"),
])
def test_backbone_option_types(kwargs, error, match):
    with pytest.raises(error, match='ACEBackbone: ' + match):
        ACEBackbone(R32, **kwargs)
    # None still means "the whole last stage".
    assert ACEBackbone(R32, num_blocks=None).num_blocks == 5


def test_metric_thresholds_are_numbers():
    from mmace.evaluation import LongTailAccuracy
    with pytest.raises(TypeError, match="LongTailAccuracy: many_thr='100'"):
        LongTailAccuracy(many_thr='100')
    with pytest.raises(ValueError, match='few_thr=-1 must be >= 0'):
        LongTailAccuracy(few_thr=-1)


def test_num_experts_mismatch_is_reported_with_both_keys():
    model = dict(backbone=dict(type='ACEBackbone', num_experts=3),
                 head=dict(type='ACEHead', num_experts=4))
    with pytest.raises(ValueError, match=r'model.backbone.num_experts=3 and '
                       r'model.head.num_experts=4 differ'):
        check_num_experts_match(model)
    # Both left at their default (3), or equal: fine.
    check_num_experts_match(dict(backbone=dict(type='ACEBackbone'),
                                 head=dict(type='ACEHead', num_experts=3)))
    check_num_experts_match(dict(backbone=dict(type='ResNet'),
                                 head=dict(type='LinearClsHead')))


def train_fails(tmp_path, *options):
    proc = subprocess.run(
        [PYTHON, REPO / 'tools/train.py', ACE_DIGITS, '--work-dir',
         tmp_path / 'work', '--cfg-options', 'train_cfg.max_epochs=1',
         *options],
        cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0, proc.stdout[-2000:]
    return proc.stderr


@pytest.mark.parametrize('option, message', [
    ('model.backbone.num_experts=three',
     "ACEBackbone: num_experts='three' must be an integer"),
    ('model.head.rescale=Squared', "ACEHead: unknown rescale 'Squared'"),
    ('model.head.num_experts=4', 'model.backbone.num_experts=3 and '
     'model.head.num_experts=4 differ'),
    ('optim_wrapper.paramwise_cfg.lr_scheme=cosine',
     "lr_scheme` 'cosine'"),
])
@pytest.mark.slow
def test_train_py_names_the_bad_option(tmp_path, option, message):
    stderr = train_fails(tmp_path, option)
    # The message is the last line a user sees.
    assert message in stderr.strip().splitlines()[-1], stderr[-3000:]
    # Nothing was trained.
    assert not list((tmp_path / 'work').glob('*.pth'))
