"""fold_ace_head: the ACE head folded into one Linear layer."""
import pytest
import torch
import torch.nn as nn

from mmace.models.heads import ACEHead
from mmace.models.ace import fold_ace_head


# 10 classes, not sorted by index, 3 experts.
COUNTS = [50, 30, 90, 10, 10, 70, 20, 20, 80, 40]


def _trained_like_head(**kwargs):
    """An ACE head whose LWS scales, biases and norms all differ."""
    torch.manual_seed(0)
    head = ACEHead(num_classes=10, in_channels=16, class_counts=COUNTS,
                   **kwargs)
    with torch.no_grad():
        for i, clf in enumerate(head.classifiers):
            clf.weight.normal_(std=0.1 * (i + 1))
            clf.bias.normal_(std=0.5)
            clf.scale.uniform_(0.5, 2.0)
    return head.eval()


def _feats(n=32, k=3, d=16):
    return tuple(torch.randn(n, d) for _ in range(k))


@pytest.mark.parametrize('aggregation', ['avg', 'concat'])
@pytest.mark.parametrize('rescale', ['squared', 'plain', None])
@pytest.mark.parametrize('scale_bias', [False, True])
def test_folded_head_equals_head(aggregation, rescale, scale_bias):
    head = _trained_like_head(aggregation=aggregation, rescale=rescale,
                              scale_bias=scale_bias)
    feats = _feats()
    fc = fold_ace_head(head)
    assert isinstance(fc, nn.Linear)
    assert (fc.in_features, fc.out_features) == (3 * 16, 10)
    with torch.no_grad():
        expected = head(feats)
        got = fc(torch.cat(feats, dim=1))
    assert (got - expected).abs().max() <= 1e-5
    # Not trivially equal: the experts do disagree.
    assert expected.abs().max() > 1


def test_fold_follows_the_eq2_factors():
    # Doubling expert 2's scales changes its Eq. 2 factor, and the folded
    # layer must follow: a fold is a snapshot of the current weights.
    head = _trained_like_head()
    before = fold_ace_head(head).weight.clone()
    with torch.no_grad():
        head.classifiers[1].scale.mul_(2)
    after = fold_ace_head(head)
    feats = _feats()
    with torch.no_grad():
        assert (after(torch.cat(feats, 1)) - head(feats)).abs().max() <= 1e-5
    assert not torch.allclose(before, after.weight)


def test_fold_refuses_max_aggregation():
    with pytest.raises(ValueError, match="'max' .*not linear|cannot be "
                       'folded'):
        fold_ace_head(_trained_like_head(aggregation='max'))


def test_fold_needs_class_counts():
    with pytest.raises(RuntimeError, match='class counts'):
        fold_ace_head(ACEHead(num_classes=10, in_channels=16,
                              class_counts=None))


# ------------------------------------------ ACEHead.switch_to_deploy
def test_switch_to_deploy_scores_with_the_folded_layer():
    head = _trained_like_head()
    feats = _feats()
    with torch.no_grad():
        logits = head(feats)
        before = head.predict(feats)
    head.switch_to_deploy()
    assert isinstance(head.deploy_fc, nn.Linear)
    # forward and predict now go through the one Linear...
    calls = []
    head.deploy_fc.register_forward_hook(lambda *a: calls.append(1))
    with torch.no_grad():
        assert (head(feats) - logits).abs().max() <= 1e-5
        after = head.predict(feats)
    assert len(calls) == 2
    for a, b in zip(before, after):
        assert (a.pred_score - b.pred_score).abs().max() <= 1e-6
        assert a.pred_label == b.pred_label
    # ...not through the K classifiers.
    head.classifiers = None
    with torch.no_grad():
        head(feats)


def test_switch_to_deploy_keeps_expert_scores_when_asked():
    head = _trained_like_head(return_expert_scores=True)
    feats = _feats(n=4)
    with torch.no_grad():
        before = head.predict(feats)
        head.switch_to_deploy()
        after = head.predict(feats)
    for a, b in zip(before, after):
        assert torch.allclose(a.expert_scores, b.expert_scores)


def test_switch_to_deploy_refuses_max():
    with pytest.raises(ValueError, match='cannot be folded'):
        _trained_like_head(aggregation='max').switch_to_deploy()
