"""PyTorch: a live module traced into the IR, and the IR rebuilt as a module whose forward MACs,
counted by torch.utils.flop_counter, equal learncost's (skipped without learncost[torch])."""

from __future__ import annotations

import pytest

import learncost

torch = pytest.importorskip("torch", reason="torch not installed (pip install 'learncost[torch]')")
nn = torch.nn


class SmallNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.act = nn.ReLU()
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.pw = nn.Conv2d(8, 16, 1, stride=2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 4)

    def forward(self, x):
        x = self.act(self.bn(self.c1(x)))
        x = x + self.dw(x)
        x = torch.flatten(self.pool(self.pw(x)), 1)
        return torch.softmax(self.fc(x), dim=1)


def test_from_torch_layers():
    m = learncost.from_torch(SmallNet(), (1, 3, 16, 16))
    assert [(lr.kind, lr.output_shape, lr.weights, lr.biases) for lr in m.layers] == [
        ("input", (16, 16, 3), 0, 0),
        ("conv2d", (16, 16, 8), 3 * 3 * 3 * 8, 8),
        ("depthwise_conv2d", (16, 16, 8), 3 * 3 * 8, 8),
        ("add", (16, 16, 8), 0, 0),
        ("conv2d", (8, 8, 16), 8 * 16, 16),
        ("avg_pool2d", (1, 1, 16), 0, 0),
        ("reshape", (16,), 0, 0),
        ("dense", (4,), 16 * 4, 4),
        ("softmax", (4,), 0, 0),
    ]
    assert m.layers[1].activation == "relu" and m.classes == 4
    assert any("batch normalization" in w for w in m.warnings)


def _layers(m):
    return [(lr.kind, lr.output_shape, lr.weights, lr.biases, lr.activation) for lr in m.layers]


def test_from_torch_computes_nothing():
    """Shapes come from the meta device: a module built there (its weights never allocated, so it cannot run)
    imports as the same module on the CPU does, and the traced module's own weights are left as they were."""
    with torch.device("meta"):
        on_meta = SmallNet()
    live = SmallNet()
    before = live.c1.weight.detach().clone()
    assert _layers(learncost.from_torch(on_meta, (1, 3, 16, 16))) == _layers(learncost.from_torch(live, (1, 3, 16, 16)))
    assert live.c1.weight.device.type == "cpu" and torch.equal(live.c1.weight, before)


class ValueDependent(nn.Module):
    """A shape that depends on values (nonzero has no meta kernel): shapes from one real forward pass."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        y = self.fc(x)
        return y + torch.nonzero(y).shape[0] * 0


def test_from_torch_falls_back_to_a_real_pass(capsys):
    m = learncost.from_torch(ValueDependent(), (1, 8), allow_unsupported=True)
    assert capsys.readouterr().err == ""  # the meta attempt's failure is not printed
    assert ("dense", (4,), 32, 4) in [(lr.kind, lr.output_shape, lr.weights, lr.biases) for lr in m.layers]


def test_from_torch_rejects_non_modules():
    with pytest.raises(learncost.LearncostError, match="torch.nn.Module"):
        learncost.from_torch(object(), (1, 3, 8, 8))


@pytest.mark.parametrize("model_id", ["kws", "vww", "ic", "ad"])
def test_rebuilt_module_counts_match(model_id):
    from torch.utils.flop_counter import FlopCounterMode

    from learncost.torch_build import build_module, example_input

    result = learncost.analyze(model_id, ["bp"])
    module = build_module(result.model).eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        out = module(example_input(result.model))
    assert out.numel() == result.model.output.output_elements
    ours = sum(lr.macc["forward"] for lr in result.layers if lr.kind in ("conv2d", "depthwise_conv2d", "dense"))
    assert counter.get_total_flops() == 2 * ours  # PyTorch counts a multiply-add as 2 FLOPs


class SoftmaxOverLength(nn.Module):
    def forward(self, x):
        return torch.softmax(x, dim=2) + torch.softmax(x, dim=1)


def test_softmax_dims_map_to_ir_axes():
    """A (N, C, L) tensor is the IR's (1, L, C): softmax over dim 2 (L) is along IR axis 1, stated; over dim 1
    (C) along the last, the default."""
    m = learncost.from_torch(SoftmaxOverLength(), (1, 6, 4))
    assert [(lr.output_shape, lr.attr("axis")) for lr in m.layers if lr.kind == "softmax"] == [
        ((1, 4, 6), 1), ((1, 4, 6), None)]


def test_torch_onnx_export_imports_as_from_torch(tmp_path):
    """The `onnx` extra installs what torch.onnx.export needs (onnxscript): a module exported to ONNX
    and the same module traced by from_torch give the same layers and the same figures."""
    pytest.importorskip("onnxscript", reason="onnxscript not installed (pip install 'learncost[onnx]')")
    module = SmallNet().eval()
    path = tmp_path / "small.onnx"
    torch.onnx.export(module, (torch.zeros(1, 3, 16, 16),), str(path))
    exported = learncost.analyze(learncost.load_model(path), procedures=["bp"], mcus=["disco-f746ng"])
    traced = learncost.analyze(learncost.from_torch(module, (1, 3, 16, 16)), procedures=["bp"], mcus=["disco-f746ng"])
    for phase in ("training", "inference"):
        a, b = exported.row("bp", phase), traced.row("bp", phase)
        assert (a.macc, a.ram_bytes, a.params_bytes) == (b.macc, b.ram_bytes, b.params_bytes)


class _Pools(nn.Module):
    """The same pooling written as modules or as functions (positional and keyword arguments)."""

    def __init__(self, functional: bool):
        super().__init__()
        self.functional = functional
        self.c = nn.Conv2d(3, 8, 3, padding=1)
        self.mp, self.ap = nn.MaxPool2d(2), nn.AvgPool2d(3, stride=1, padding=1, ceil_mode=True)
        self.fc = nn.Linear(8 * 8 * 8, 4)

    def forward(self, x):
        x = self.c(x)
        if self.functional:
            x = nn.functional.avg_pool2d(nn.functional.max_pool2d(x, 2), kernel_size=3, stride=1, padding=1,
                                         ceil_mode=True)
        else:
            x = self.ap(self.mp(x))
        return self.fc(torch.flatten(x, 1))


def test_functional_pools_import_like_their_modules():
    """F.max_pool2d / F.avg_pool2d read their window from the call (they were unsupported): the same
    layers, windows and figures as nn.MaxPool2d / nn.AvgPool2d. By hand: max pool 2x2 on 16x16x8 ->
    8x8x8; avg pool 3x3 stride 1 padding 1 keeps 8x8x8."""
    modules, functions = (learncost.from_torch(_Pools(f), (1, 3, 16, 16), classes=4) for f in (False, True))

    def pools(m):
        return [(lr.kind, lr.output_shape, lr.kernel, lr.stride, lr.padding) for lr in m.layers if "pool" in lr.kind]

    assert pools(functions) == pools(modules) == [
        ("max_pool2d", (8, 8, 8), (2, 2), (2, 2), (0, 0, 0, 0)),
        ("avg_pool2d", (8, 8, 8), (3, 3), (1, 1), (1, 1, 1, 1)),
    ]
    a, b = (learncost.analyze(m, procedures=["bp"], mcus=["disco-f746ng"]) for m in (modules, functions))
    assert a.row("bp", "training").macc == b.row("bp", "training").macc
    assert a.row("bp", "training").ram_bytes == b.row("bp", "training").ram_bytes


def test_functional_pad_clamp_and_no_ops():
    """F.pad, torch.clamp / x.clamp / F.hardtanh and the no-ops (F.dropout, x.contiguous, x.clone) import
    like their module forms (they were unsupported): by hand, F.pad(x, (1, 1, 2, 0)) on 8x8x8 gives
    10x10x8 (H + 2 + 0, W + 1 + 1); padding channels too, (0, 0, 0, 0, 1, 3) gives 8x8x12."""

    class Functional(nn.Module):
        def __init__(self):
            super().__init__()
            self.c, self.d = nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 8, 3)
            self.e = nn.Conv2d(12, 4, 1)

        def forward(self, x):
            x = torch.clamp(self.c(x), 0, 6).contiguous()                      # ReLU6, fused into c
            x = nn.functional.pad(nn.functional.dropout(x, 0.1, training=False), (1, 1, 2, 0))
            x = self.d(x).clamp(min=0).clone()                                 # ReLU, fused into d
            x = nn.functional.pad(x, (0, 0, 0, 0, 1, 3))
            return nn.functional.hardtanh(self.e(x))                            # ReLU-N1-to-1, fused into e

    m = learncost.from_torch(Functional(), (1, 3, 8, 8))
    by = m.by_name
    assert by["c"].activation == "relu6" and by["d"].activation == "relu"
    pads = [lr for lr in m.layers if lr.kind == "pad"]
    assert [lr.output_shape for lr in pads] == [(10, 10, 8), (8, 8, 12)]
    assert by["e"].activation == "relu_n1_to_1"
    assert any("dropout" in w for w in m.warnings)  # folded, as the module's Dropout is
    with pytest.raises(learncost.LearncostError, match=r"clamp to \[0, 5\]"):

        class Odd(nn.Module):
            def forward(self, x):
                return torch.clamp(x, 0, 5)

        learncost.from_torch(Odd(), (1, 3, 8, 8))


def test_three_dimensional_permute():
    """A ViT-style (N, C, L) permute imports as the IR transpose it is (it crashed with an IndexError, sized
    from the IR shape, which has three axes for a 3-D and a 4-D tensor alike). By hand: conv 4x4/4 on
    32x32x3 gives 8x8x16, flattened (N, 16, 64), the IR's (1, 64, 16); permuted (N, 64, 16), the IR's
    (1, 16, 64); a 1x1 Conv1d to 8 channels (1, 16, 8); transposed back (1, 8, 16)."""

    class Tokens(nn.Module):
        def __init__(self):
            super().__init__()
            self.c, self.c1, self.fc = nn.Conv2d(3, 16, 4, stride=4), nn.Conv1d(64, 8, 1), nn.Linear(8 * 16, 4)

        def forward(self, x):
            x = self.c1(self.c(x).flatten(2).permute(0, 2, 1))
            return self.fc(x.transpose(1, 2).flatten(1))

    m = learncost.from_torch(Tokens(), (1, 3, 32, 32))
    moves = [(lr.output_shape, lr.attr("perm")) for lr in m.layers if lr.kind == "transpose"]
    assert moves == [((1, 16, 64), (0, 2, 1)), ((1, 8, 16), (0, 2, 1))]
    assert m.by_name["c1"].output_shape == (1, 16, 8)


class _Shuffle(nn.Module):
    """A ShuffleNet-style split (chunk, whose items fx reads with getitem: slices) and 5-D channel shuffle, and a
    layer-scale parameter read directly (fx's get_attr), which has no formula."""

    def __init__(self):
        super().__init__()
        self.c, self.d = nn.Conv2d(3, 16, 3, padding=1), nn.Conv2d(8, 8, 1)
        self.gamma = nn.Parameter(torch.ones(16, 1, 1))

    def forward(self, x):
        a, b = self.c(x).chunk(2, dim=1)
        y = self.gamma * torch.cat([a, self.d(b)], dim=1)
        n, c, h, w = y.shape
        return y.view(n, 2, c // 2, h, w).transpose(1, 2).contiguous().view(n, c, h, w).mean((2, 3))


def test_a_parameter_read_as_an_operand_is_a_constant():
    """A parameter a forward pass multiplies a feature map by (a layer scale, ConvNeXt's) reads no tensor of the
    graph: it was an unsupported zero-cost layer (an IndexError once), it is a ``constant`` of its 16 values, read
    from flash (test_transformer_import.py). The chunk's items are slices and the shuffle a reshape, a transpose
    and a reshape."""
    m = learncost.from_torch(_Shuffle(), (1, 3, 8, 8))
    assert [(lr.name, lr.kind) for lr in m.layers if lr.kind in ("constant", "slice", "transpose")] == [
        ("getitem", "slice"), ("getitem_1", "slice"), ("gamma", "constant"), ("transpose", "transpose")]
    gamma = m.by_name["gamma"]
    assert m.by_name["getitem"].inputs == ("c",) and (gamma.inputs, gamma.output_shape, gamma.weights) == (
        (), (1, 1, 16), 16)
    assert m.by_name["d"].output_shape == (8, 8, 8)
    a = learncost.analyze(m, procedures=["bp"], mcus=["disco-f746ng"])
    # conv 3x3x3x16 on 8x8 = 27,648; the 1x1 conv 8 -> 8 on 8x8 = 4,096; the mul 1,024; the mean 1,024
    assert a.row("bp", "inference").macc == 27_648 + 4_096 + 1_024 + 1_024


def test_linear_at_each_position():
    """nn.Linear on tokens (N, T, K) applies its weights at each of the T positions: the IR's 1x1 convolution over
    (1, T, K) (it was refused with 'should output [...] but its parameters give [...]', even with allow_unsupported;
    then unsupported). By hand: 4 tokens x 6 x 4 = 96, the head 16 x 3 = 48. On a channels-first (N, C, L) tensor (a
    Conv1d's output) a Linear mixes each channel's L positions: not a layer the IR states, named as unsupported,
    carried at torch's output shape. One token is one position of that convolution."""

    class Tokens(nn.Module):
        def __init__(self):
            super().__init__()
            self.mix, self.head = nn.Linear(6, 4), nn.Linear(16, 3)

        def forward(self, x):
            return self.head(torch.flatten(self.mix(x), 1))

    m = learncost.from_torch(Tokens(), (1, 4, 6))
    assert [(lr.kind, lr.output_shape) for lr in m.layers[1:]] == [("conv2d", (1, 4, 4)), ("reshape", (16,)),
                                                                   ("dense", (3,))]
    assert learncost.analyze(m, ["bp"]).row("bp", "inference").macc == 4 * 6 * 4 + 16 * 3
    along = nn.Sequential(nn.Conv1d(6, 4, 1), nn.Linear(5, 3))
    with pytest.raises(learncost.LearncostError, match=r"Linear at each position of a rank-3 tensor \(operator 2\)"):
        learncost.from_torch(along, (1, 6, 5))
    m = learncost.from_torch(along, (1, 6, 5), allow_unsupported=True)
    assert [(lr.kind, lr.output_shape) for lr in m.layers[1:]] == [("conv2d", (1, 5, 4)), ("opaque", (1, 3, 4))]
    one = learncost.from_torch(nn.Sequential(nn.Linear(6, 4)), (1, 1, 6))  # one token: 6 x 4 MACC
    assert [(lr.kind, lr.output_shape) for lr in one.layers[1:]] == [("conv2d", (1, 1, 4))]
    assert learncost.analyze(one, ["bp"]).row("bp", "inference").macc == 24


def test_input_less_operator_after_a_renamed_layer():
    """A parameter read (get_attr) right after a call whose node name starts with '_' (Swin's
    ``_get_relative_position_bias``) is placed after that call's layer, named 'doubled': it was refused with
    "tensor 'doubled' is used before any operator produces it", even with allow_unsupported (Swin, MaxViT)."""
    from torch_nets import PrivateHelper

    with pytest.raises(learncost.LearncostError, match=r"unsupported operator\(s\): table \(operator 2\), _doubled "
                                                        r"\(computed from parameters alone\) \(operator 3\) \("):
        learncost.from_torch(PrivateHelper(), (1, 3, 5, 5))
    m = learncost.from_torch(PrivateHelper(), (1, 3, 5, 5), allow_unsupported=True)
    assert [(lr.name, lr.kind) for lr in m.layers[1:]] == [("conv", "conv2d"), ("table", "opaque"),
                                                           ("doubled", "opaque"), ("gamma", "constant"), ("mul", "mul"),
                                                           ("add", "add")]
    assert m.by_name["doubled"].inputs == ("table",) and m.by_name["gamma"].inputs == ()


def test_a_layer_given_alone_is_one_layer():
    """fx traces into the root module, so a layer given alone was read through its functional call (a Linear as
    unsupported get_attr reads, a ConvTranspose2d or an LSTM not traced at all): it is one layer now. Shapes and
    MACC by hand: 8 x 8 x 4 -> (8 - 1) x 2 + 3 = 17, 3 x 3 x 4 x 64 x 3 = 6,912; 6 x 4 = 24; an LSTM given alone
    outputs every step (its output is the whole tuple)."""
    m = learncost.from_torch(nn.ConvTranspose2d(4, 3, 3, stride=2), (1, 4, 8, 8))
    assert [(lr.name, lr.kind, lr.output_shape) for lr in m.layers[1:]] == [
        ("convtranspose2d", "conv2d_transpose", (17, 17, 3))]
    assert learncost.analyze(m, ["bp"]).row("bp", "inference").macc == 3 * 3 * 4 * 64 * 3 == 6_912
    m = learncost.from_torch(nn.Linear(6, 4), (1, 6))
    assert [(lr.kind, lr.output_shape) for lr in m.layers[1:]] == [("dense", (4,))]
    assert learncost.analyze(m, ["bp"]).row("bp", "inference").macc == 24
    m = learncost.from_torch(nn.LSTM(4, 8, batch_first=True), (1, 5, 4))
    assert [(lr.kind, lr.output_shape) for lr in m.layers[1:]] == [("lstm", (5, 8))]


def test_a_tensor_computed_from_parameters_alone():
    """Swin V2's continuous position bias: a small MLP over a parameter table, viewed as (225, 3) -- no batch axis --
    then read by the attention. Such a subgraph runs once, not per sample (a converter folds it into a constant):
    each of its nodes is unsupported, named, and with allow_unsupported carried at its full shape, so what follows
    imports (a view of it was refused: '[3] holds 3 elements, the input [15, 3, 15] holds 675')."""

    class Bias(nn.Module):
        def __init__(self):
            super().__init__()
            self.table = nn.Parameter(torch.zeros(1, 15, 15, 2))
            self.mlp = nn.Linear(2, 3)
            self.conv = nn.Conv2d(3, 3, 1)

        def forward(self, x):
            bias = self.mlp(self.table).view(-1, 3)  # (225, 3)
            return self.conv(x) + bias.t().reshape(1, 3, 15, 15)

    with pytest.raises(learncost.LearncostError, match=r"mlp \(computed from parameters alone\)"):
        learncost.from_torch(Bias(), (1, 3, 15, 15))
    m = learncost.from_torch(Bias(), (1, 3, 15, 15), allow_unsupported=True)
    assert [(lr.name, lr.kind, lr.output_shape) for lr in m.layers[1:]] == [
        ("table", "opaque", (15, 2, 15)), ("mlp", "opaque", (15, 3, 15)), ("view", "opaque", (1, 3, 225)),
        ("conv", "conv2d", (15, 15, 3)), ("t", "opaque", (1, 225, 3)), ("reshape", "opaque", (15, 15, 3)),
        ("add", "add", (15, 15, 3))]
    # by hand: the 1x1 convolution 15 x 15 x 3 x 3 = 2,025 and the add 675; the bias subgraph nothing
    assert learncost.analyze(m, ["bp"]).row("bp", "inference").macc == 2_025 + 675


def test_a_batch_folded_into_the_first_axis():
    """Swin and MaxViT fold the batch into their windows: (1, 4, 6, 6) viewed as (4, 36). Every axis of it is the
    sample's: a view keeps its values (the IR holds all 144), an operation reading dimensions batch-first would
    misread them and is unsupported, named; it was a reshape refused for its element count."""

    class Windows(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(4, 2, 1)

        def forward(self, x):
            w = torch.softmax(x.view(4, 36), dim=1)
            return self.conv(w.view(1, 4, 6, 6))

    with pytest.raises(learncost.LearncostError, match=r"softmax \(on a tensor whose batch is folded into its first "
                                                        r"axis\)"):
        learncost.from_torch(Windows(), (1, 4, 6, 6))
    m = learncost.from_torch(Windows(), (1, 4, 6, 6), allow_unsupported=True)
    assert [(lr.kind, lr.output_shape) for lr in m.layers[1:]] == [
        ("reshape", (1, 36, 4)), ("opaque", (1, 36, 4)), ("reshape", (6, 6, 4)), ("conv2d", (6, 6, 2))]
