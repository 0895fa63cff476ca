"""LongTailLinearClsHead: post-hoc logit adjustment, tau-norm and LWS by
hand."""
import math

import pytest
import torch

from mmace.models.heads import LongTailLinearClsHead

COUNTS = [8, 2]  # prior 0.8 / 0.2


def test_posthoc_head_by_hand():
    head = LongTailLinearClsHead(2, 2, posthoc_tau=1.0, class_counts=COUNTS)
    with torch.no_grad():
        head.fc.weight.copy_(torch.tensor([[2., 0.], [0., 1.]]))
        head.fc.bias.zero_()
    x = (torch.tensor([[1., 1.]]), )
    # Raw logits [2, 1]; minus log prior: [2 - log .8, 1 - log .2].
    assert torch.allclose(head.adjusted_logits(x),
                          torch.tensor([[2 - math.log(.8),
                                         1 - math.log(.2)]]))
    assert head.predict(x)[0].pred_label.item() == 1  # 2.22 < 2.61
    # tau-norm with power 1: rows scaled to unit norm -> logits [1, 1].
    tn = LongTailLinearClsHead(2, 2, tau_norm=1.0)
    tn.load_state_dict(head.state_dict())
    assert torch.allclose(tn.adjusted_logits(x), torch.tensor([[1., 1.]]))
    # The counts are a persistent buffer, as in the ACE heads, and a
    # LinearClsHead checkpoint (no counts) still loads strictly, keeping
    # the config's counts.
    assert set(head.state_dict()) == {'fc.weight', 'fc.bias', 'class_counts'}
    stock = {'fc.weight': torch.eye(2), 'fc.bias': torch.zeros(2)}
    head.load_state_dict(stock, strict=True)
    assert head.class_counts.tolist() == COUNTS
    assert torch.allclose(head.adjusted_logits(x),
                          torch.tensor([[1 - math.log(.8),
                                         1 - math.log(.2)]]))


def test_lws_head_scales_each_whole_logit_by_hand():
    head = LongTailLinearClsHead(2, 2, lws=True)
    with torch.no_grad():
        head.fc.weight.copy_(torch.tensor([[2., 0.], [0., 1.]]))
        head.fc.bias.copy_(torch.tensor([1., 1.]))
        head.fc.scale.copy_(torch.tensor([0.5, 3.]))
    x = (torch.tensor([[1., 1.]]), )
    # f * (w x + b): 0.5 * (2 + 1), 3 * (1 + 1).
    expected = torch.tensor([[1.5, 6.]])
    assert torch.allclose(head(x), expected)
    assert torch.allclose(head.adjusted_logits(x), expected)
    # A first-stage LinearClsHead checkpoint fills weight and bias; the
    # scale is new (load_from loads non-strictly) and starts at 1.
    plain = LongTailLinearClsHead(2, 2)
    missing = LongTailLinearClsHead(2, 2, lws=True).load_state_dict(
        plain.state_dict(), strict=False).missing_keys
    assert missing == ['fc.scale']
    assert torch.equal(LongTailLinearClsHead(2, 2, lws=True).fc.scale,
                       torch.ones(2))


def test_cosine_head_gives_cosines_by_hand():
    head = LongTailLinearClsHead(2, 2, cosine=True)
    assert head.fc.bias is None
    with torch.no_grad():
        head.fc.weight.copy_(torch.tensor([[3., 0.], [1., 1.]]))
    x = (torch.tensor([[2., 0.]]), )
    # cos(x, w_0) = 1, cos(x, w_1) = 1/sqrt(2), whatever the norms.
    expected = torch.tensor([[1., 1 / math.sqrt(2)]])
    assert torch.allclose(head(x), expected)
    assert torch.allclose(head.adjusted_logits(x), expected)
    with pytest.raises(ValueError, match='cannot be combined'):
        LongTailLinearClsHead(2, 2, cosine=True, lws=True)


@pytest.mark.parametrize('counts, error, match', [
    ('uniform', ValueError, r"class_counts='uniform' must be 'auto'"),
    ([8, 'two'], TypeError, r"class_counts\[1\]='two' is not a number"),
    ([8, -1], ValueError, r'class_counts\[1\]=-1.0 must be a finite'),
    ([8, 2, 1], ValueError, r'has 3 classes \(.*num_classes=2'),
    ([0, 0], ValueError, r'at least one sample'),
])
def test_class_counts_follow_the_one_rule(counts, error, match):
    """The same validation as the ACE heads, naming the class."""
    from mmace.models.heads import ACEHead
    with pytest.raises(error, match=match):
        LongTailLinearClsHead(2, 2, class_counts=counts)
    with pytest.raises(error, match=match):
        ACEHead(2, 2, num_experts=2, class_counts=counts)


def test_a_class_without_samples_is_refused_by_what_needs_its_prior():
    """Zero counts are valid counts (the ACE planner ranks such a class
    last) but have no log-prior: posthoc_tau names the class."""
    LongTailLinearClsHead(2, 2, class_counts=[8, 0])
    with pytest.raises(ValueError, match=r'posthoc_tau needs .* class 1 '
                                         r'has none \(class_counts\[1\]=0\)'):
        LongTailLinearClsHead(2, 2, posthoc_tau=1.0, class_counts=[8, 0])
