"""The MAC counter itself, before anything is verified with it.

Every expected value is a hand derivation from the layer's shapes (stated beside it), or the
documented figure of ``torch.utils.flop_counter`` (2 FLOPs per MAC) where the two agree.
"""

import pytest

torch = pytest.importorskip("torch")

from torch.nn import functional as F  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from learncost.verify.counter import MacCounter  # noqa: E402


def _peer_macs(fn) -> dict[str, int]:
    with FlopCounterMode(display=False) as fc:
        fn()
    return {str(k).split(".")[-1]: v // 2 for k, v in fc.get_flop_counts()["Global"].items()}


def _conv_step(counter, x, w, b=None, **kw):
    with counter.at("conv", "forward"):
        y = F.conv2d(x, w, b, **kw)
    with counter.at("conv", "input_gradient"):
        y.backward(torch.ones_like(y))
    return y


def test_depthwise_backward_counts_each_gradient_once():
    # the case: 64 channels, 3x3 depthwise on a 25x5 map, 'same' padding.
    # forward = H_out * W_out * C_out * H_ker * W_ker = 25*5*64*9 = 72,000; input and weight
    # gradients each cost the forward.
    x = torch.randn(1, 64, 25, 5, requires_grad=True)
    w = torch.randn(64, 1, 3, 3, requires_grad=True)
    with MacCounter() as c:
        _conv_step(c, x, w, padding=1, groups=64)
    assert c.counts[("conv", "forward")] == 72_000
    assert c.counts[("conv", "input_gradient")] == 72_000
    assert c.counts[("conv", "weight_gradient")] == 72_000
    assert c.total() == 216_000


@pytest.mark.skipif(not torch.__version__.startswith("2.13"),
                    reason="a finding about torch 2.13's flop counter; other versions may count otherwise")
def test_torch_flop_counter_overcounts_grouped_backward_in_torch_2_13():
    # the peer's figure for the same backward: 4,680,000 MACs (= 72,000 x 64 + 72,000, one
    # gradient costed as an ungrouped convolution); its forward is right. This is why
    # learncost counts with its own handlers.
    x = torch.randn(1, 64, 25, 5, requires_grad=True)
    w = torch.randn(64, 1, 3, 3, requires_grad=True)

    def step():
        F.conv2d(x, w, padding=1, groups=64).sum().backward()

    peer = _peer_macs(step)
    assert peer["convolution"] == 72_000
    assert peer["convolution_backward"] == 4_680_000


def test_strided_conv_with_bias_matches_hand_count_and_peer():
    # 3x3 conv, 16 -> 32 channels, stride 2 on 32x32, padding 1: H_out = W_out = 16;
    # forward = 16*16*32 * 16*3*3 = 1,179,648; bias gradient = output elements 16*16*32 = 8,192
    x = torch.randn(1, 16, 32, 32, requires_grad=True)
    w = torch.randn(32, 16, 3, 3, requires_grad=True)
    b = torch.randn(32, requires_grad=True)
    with MacCounter() as c:
        _conv_step(c, x, w, b, stride=2, padding=1)
    assert c.counts[("conv", "forward")] == 1_179_648
    assert c.counts[("conv", "input_gradient")] == 1_179_648
    assert c.counts[("conv", "weight_gradient")] == 1_179_648
    assert c.counts[("conv", "bias_gradient")] == 8_192

    peer = _peer_macs(lambda: F.conv2d(x, w, b, stride=2, padding=1).sum().backward())
    assert peer["convolution"] == c.counts[("conv", "forward")]
    assert peer["convolution_backward"] == 2 * 1_179_648  # ungrouped: the peer agrees


def test_only_the_gradients_asked_for_are_counted():
    # autograd asked for the weight gradient only: conv backward runs with mask [F, T, F]
    x = torch.randn(1, 8, 10, 10)
    w = torch.randn(4, 8, 3, 3, requires_grad=True)
    with MacCounter() as c:
        y = F.conv2d(x, w)
        with c.at("conv", "weight_gradient"):
            torch.autograd.grad(y, [w], torch.ones_like(y))
    # 8*8 outputs x 4 channels x 8*3*3 = 64 x 4 x 72 = 18,432
    assert c.counts[("conv", "weight_gradient")] == 18_432
    assert ("conv", "input_gradient") not in c.counts


def test_dense_forward_and_backward():
    # 128 -> 10 with bias: forward 1,280 (addmm counts the product, not the bias add);
    # backward: input gradient 1x10 @ 10x128 = 1,280, weight gradient 10x1 @ 1x128 = 1,280,
    # bias gradient a sum over the batch of 10 elements = 10
    x = torch.randn(1, 128, requires_grad=True)
    lin = torch.nn.Linear(128, 10)
    with MacCounter() as c:
        with c.at("fc", "forward"):
            y = lin(x)
        g = torch.ones_like(y)
        with c.at("fc", "input_gradient"):
            torch.autograd.grad(y, [x], g, retain_graph=True)
        with c.at("fc", "weight_gradient"):
            torch.autograd.grad(y, [lin.weight], g, retain_graph=True)
        with c.at("fc", "bias_gradient"):
            torch.autograd.grad(y, [lin.bias], g)
    assert dict(c.counts) == {("fc", "forward"): 1_280, ("fc", "input_gradient"): 1_280,
                              ("fc", "weight_gradient"): 1_280, ("fc", "bias_gradient"): 10}
    assert _peer_macs(lambda: lin(x))["addmm"] == 1_280


def test_pools_elementwise_reductions_and_dot():
    x = torch.randn(1, 64, 25, 5, requires_grad=True)
    with MacCounter() as c:
        with c.at("pool", "forward"):
            y = F.avg_pool2d(x, (25, 5))  # global: every input read once, 8,000
        with c.at("pool", "input_gradient"):
            y.backward(torch.ones_like(y))  # each of the 64 errors spread over its 125 inputs: 8,000
        with c.at("max", "forward"):
            m = F.max_pool2d(x.detach(), 5)  # 5x1 windows over 25x5 -> 64 x 5 x 1 outputs x 25 = 8,000
        with c.at("add", "forward"):
            x.detach() + x.detach()  # 8,000
        with c.at("mul", "forward"):
            x.detach() * 2.0  # 8,000
        with c.at("sum", "forward"):
            x.detach().sum()  # 8,000
        with c.at("dot", "goodness"):
            v = x.detach().reshape(-1)
            torch.dot(v, v)  # 8,000
    assert c.counts[("pool", "forward")] == 8_000
    assert c.counts[("pool", "input_gradient")] == 8_000
    assert c.counts[("max", "forward")] == 8_000
    assert m.shape == (1, 64, 5, 1)
    for name, op in (("add", "forward"), ("mul", "forward"), ("sum", "forward"), ("dot", "goodness")):
        assert c.counts[(name, op)] == 8_000


def test_max_pool_backward_routes_one_error_per_output():
    x = torch.randn(1, 2, 4, 4, requires_grad=True)
    with MacCounter() as c:
        y = F.max_pool2d(x, 2)
        with c.at("max", "input_gradient"):
            y.backward(torch.ones_like(y))
    assert c.counts[("max", "input_gradient")] == 8  # 2 x 2 x 2 outputs


def test_operators_without_macs_are_tallied_not_counted():
    x = torch.randn(1, 4, 8, 8)
    with MacCounter() as c:
        F.relu(x)
        F.pad(x, (1, 1, 1, 1))
        torch.softmax(x.reshape(1, -1), dim=1)
    assert c.total() == 0
    assert {"relu", "constant_pad_nd", "_softmax"} <= set(c.uncounted)


def test_unknown_operation_label_is_refused():
    with pytest.raises(ValueError, match="unknown counted operation"):
        with MacCounter() as c, c.at("x", "backprop"):
            pass
