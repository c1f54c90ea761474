"""Transformers through ``from_torch``: tokens (N, T, K) are the IR's (1, T, K), a linear layer at each token a 1x1
convolution, ``nn.LayerNorm`` the IR's layer normalization, ``nn.MultiheadAttention`` the IR's products (the
built-in ``kwt`` spec's writing), learned tensors read as activations (ViT's class token and position table)
``constant`` layers whose values are parameters read from flash.

Independent references: the built-in ``kwt`` spec, written apart from the importer (the same network gives the
same MACC and parameters); PyTorch itself (the imported graph, executed with the module's own weights, computes
the module's outputs); every procedure executed as counted (``verify``); hand derivations. torchvision's ViTs
(B/16, B/32, L/16, L/32) import as they are, their MACC equal to ``torch.utils.flop_counter`` and their parameters
to the module's (docs/models.md: the survey; torchvision is not installed here).
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

import learncost  # noqa: E402


class KWT(nn.Module):
    """KWT's encoder as the built-in spec writes it (post-norm blocks, GELU feed-forward, the tokens' mean)."""

    def __init__(self, frames=98, features=40, dim=64, heads=1, mlp=256, depth=2, classes=12):
        super().__init__()
        self.embed = nn.Linear(features, dim)
        self.blocks = nn.ModuleList(nn.ModuleDict(dict(
            att=nn.MultiheadAttention(dim, heads, batch_first=True), ln1=nn.LayerNorm(dim), ff1=nn.Linear(dim, mlp),
            act=nn.GELU(), ff2=nn.Linear(mlp, dim), ln2=nn.LayerNorm(dim))) for _ in range(depth))
        self.fc = nn.Linear(dim, classes)

    def forward(self, x):
        x = self.embed(x)
        for b in self.blocks:
            x = b["ln1"](x + b["att"](x, x, x, need_weights=False)[0])
            x = b["ln2"](x + b["ff2"](b["act"](b["ff1"](x))))
        return self.fc(x.mean(1))


class MiniViT(nn.Module):
    """ViT's structure at a small size: 4x4 patches of an 8x8x2 image as 4 tokens of 6 features, a class token,
    a position table, one pre-norm block of 2 heads, the class token's features to the head."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Conv2d(2, 6, 4, 4)
        self.cls = nn.Parameter(torch.randn(1, 1, 6))
        self.pos = nn.Parameter(torch.randn(1, 5, 6))
        self.ln = nn.LayerNorm(6)
        self.att = nn.MultiheadAttention(6, 2, batch_first=True)
        self.head = nn.Linear(6, 3)

    def forward(self, x):
        x = self.proj(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1) + self.pos
        h = self.ln(x)
        x = x + self.att(h, h, h, need_weights=False)[0]
        return self.head(x[:, 0])


def _forward(model) -> dict[str, int]:
    return {lr.name: lr.macc["forward"] for lr in learncost.analyze(model, ["bp"], setup="int8-fp32grad").layers}


def test_kwt_module_equals_the_builtin_spec():
    """The same KWT-1 (2 blocks), written as a PyTorch module and as the built-in spec: equal MACC by kind and in
    total, equal parameters (103,372: embed 40 x 64 + 64; per block 3 x (64 x 64 + 64) + 64 x 64 + 64, two layer
    norms 2 x 128, 64 x 256 + 256 + 256 x 64 + 64; the classifier 64 x 12 + 12)."""
    m = learncost.from_torch(KWT(), (1, 98, 40))
    spec = learncost.load_model("kwt", params={"depth": 2})
    per_block = 3 * (64 * 64 + 64) + 64 * 64 + 64 + 2 * 128 + 64 * 256 + 256 + 256 * 64 + 64
    assert m.weights + m.biases == spec.weights + spec.biases == 40 * 64 + 64 + 2 * per_block + 64 * 12 + 12 == 103_372

    def by_kind(model):
        out: dict[str, int] = {}
        for name, v in _forward(model).items():
            out[model.by_name[name].kind] = out.get(model.by_name[name].kind, 0) + v
        return {k: v for k, v in out.items() if v}

    assert by_kind(m) == by_kind(spec)
    assert learncost.analyze(m, ["bp"], setup="int8-fp32grad").row("bp", "inference").macc == 12_551_432
    assert m.warnings == []


def test_attention_heads_hand_derivation():
    """MiniViT: patches 4 x 4 x 2 x 6 x 4 = 768; the position table's add 5 x 6 = 30; per projection 5 x 6 x 6 = 180
    (q, k, v, out: 720); scores 2 heads x 5 x 5 x 3 = 150, times V 150; the residual 30; the head 18."""
    m = learncost.from_torch(MiniViT(), (1, 2, 8, 8))
    f = {k: v for k, v in _forward(m).items() if v}
    assert f["proj"] == 768 and f["att_scores"] == f["att_att"] == 150 and f["head"] == 18
    assert [f[f"att_{p}"] for p in "qkv"] + [f["att_out"]] == [180] * 4
    assert (m.by_name["att_scores"].output_shape, m.by_name["att_att"].output_shape) == ((2, 5, 5), (2, 5, 3))
    cls, pos = m.by_name["cls"], m.by_name["pos"]
    assert (cls.kind, cls.output_shape, cls.weights, pos.output_shape, pos.weights) == \
        ("constant", (1, 1, 6), 6, (1, 5, 6), 30)
    assert m.weights + m.biases == sum(p.numel() for p in MiniViT().parameters())


def test_imported_transformer_computes_what_pytorch_computes():
    """The imported graph, executed by learncost's own module with MiniViT's weights (q's scaled by 1/sqrt(d), the
    scaling deployments fold), gives MiniViT's output: the heads' split, the transposes, the class token and the
    table of positions are where PyTorch has them."""
    from learncost.torch_build import build_module

    torch.manual_seed(0)
    net = MiniViT().eval()
    m = learncost.from_torch(net, (1, 2, 8, 8))
    ir = build_module(m)
    ops = ir.ops
    with torch.no_grad():
        ops["proj"].weight.copy_(net.proj.weight)
        ops["proj"].bias.copy_(net.proj.bias)
        ops["cls"].value.copy_(net.cls.permute(0, 2, 1).unsqueeze(2))  # (1, T, K) -> the module's (1, K, 1, T)
        ops["pos"].value.copy_(net.pos.permute(0, 2, 1).unsqueeze(2))
        ops["ln"].weight.copy_(net.ln.weight)
        ops["ln"].bias.copy_(net.ln.bias)
        scale = [3 ** -0.5, 1.0, 1.0]
        for k, part in enumerate("qkv"):
            w = net.att.in_proj_weight[6 * k:6 * (k + 1)] * scale[k]
            ops[f"att_{part}"].weight.copy_(w[:, :, None, None])
            ops[f"att_{part}"].bias.copy_(net.att.in_proj_bias[6 * k:6 * (k + 1)] * scale[k])
        ops["att_out"].weight.copy_(net.att.out_proj.weight[:, :, None, None])
        ops["att_out"].bias.copy_(net.att.out_proj.bias)
        ops["head"].weight.copy_(net.head.weight)
        ops["head"].bias.copy_(net.head.bias)
        x = torch.randn(3, 2, 8, 8)
        assert torch.allclose(ir(x), net(x), atol=1e-5)


def test_every_procedure_executes_an_imported_transformer_as_counted():
    from learncost.procedures import PROCEDURES
    from learncost.verify import verify

    for model in (learncost.from_torch(KWT(frames=10, features=8, dim=16, heads=2, mlp=32, depth=1, classes=4),
                                       (1, 10, 8)), learncost.from_torch(MiniViT(), (1, 2, 8, 8)),
                  learncost.from_torch(MiniConvNeXt(), (1, 4, 6, 6))):
        v = verify(model, list(PROCEDURES), setup="int8-fp32grad")
        assert v.unexplained == []
        for c in v.checks:
            for o in c.operations:
                assert o.counted == o.analytic, (model.name, c.procedure, c.phase, o.operation)
            assert c.memory.schedule_mismatch == [] and c.memory.tracked_bytes == c.memory.schedule_bytes


def test_constants_are_parameters_read_from_flash():
    """The class token and the table have no buffer: TFLite Micro's planner and the schedules leave them out, their
    values are parameters (6 + 30 of MiniViT's). Inference's peak (int8) is while the scores are formed: the scores
    2 x 5 x 5 = 50 B, Q, K and V moved head first (30 B each) and the residual's 30 B: 170 B."""
    m = learncost.from_torch(MiniViT(), (1, 2, 8, 8), dtype="int8")
    a = learncost.analyze(m, ["bp"], setup="int8-fp32grad", memory="tflm")
    row = a.row("bp", "inference")
    assert (row.memory_by_role["activation"], row.peak_at) == (50 + 3 * 30 + 30, "run att_scores")
    assert sorted(row.peak_buffers) == ["add", "att_k_t", "att_q_t", "att_scores", "att_v_t"]
    # int8 weights and constants, int32 biases (TFLite's): the constants' 36 values are parameters
    assert m.by_name["cls"].weights + m.by_name["pos"].weights == 36 and row.params_bytes == m.weights + 4 * m.biases
    live = learncost.analyze(m, ["bp"], setup="int8-fp32grad", memory="live").row("bp", "training")
    assert live.peak_buffers and not {"cls", "pos"} & set(live.peak_buffers)


def test_attention_variants_the_ir_does_not_state_are_named():
    class Masked(nn.Module):
        def __init__(self, batch_first=True):
            super().__init__()
            self.embed = nn.Linear(4, 8)
            self.att = nn.MultiheadAttention(8, 2, batch_first=batch_first)
            self.mask = torch.zeros(5, 5)

        def forward(self, x):
            x = self.embed(x)
            return self.att(x, x, x, attn_mask=self.mask, need_weights=False)[0]

    with pytest.raises(learncost.LearncostError, match=r"MultiheadAttention \(a mask\)"):
        learncost.from_torch(Masked(), (1, 5, 4))
    m = learncost.from_torch(Masked(), (1, 5, 4), allow_unsupported=True)
    assert any("MultiheadAttention (a mask)" in w for w in m.warnings)

    class Positional(Masked):
        def forward(self, x):  # key_padding_mask None and need_weights False given by position: no mask
            x = self.embed(x)
            return self.att(x, x, x, None, False)[0]

    assert learncost.from_torch(Positional(), (1, 5, 4)).by_name["att_scores"].output_shape == (2, 5, 5)


SPEC = {
    "name": "tiny-vit", "classes": 3, "input": {"shape": [8, 8, 2]},
    "layers": [
        {"kind": "conv2d", "name": "patches", "filters": 6, "kernel": 4, "stride": 4},
        {"kind": "reshape", "name": "tokens", "shape": [1, 4, 6]},
        {"kind": "constant", "name": "cls", "shape": [1, 1, 6]},
        {"kind": "concat", "name": "seq", "axis": 1, "inputs": ["cls", "tokens"]},
        {"kind": "constant", "name": "pos", "shape": [1, 5, 6]},
        {"kind": "add", "name": "embedded", "inputs": ["seq", "pos"]},
        {"kind": "layer_norm", "name": "ln"},
        {"kind": "conv2d", "name": "mlp", "filters": 6, "kernel": 1, "activation": "relu"},
        {"kind": "add", "name": "res", "inputs": ["mlp", "embedded"]},
        {"kind": "slice", "name": "first", "begin": [0, 0, 0], "end": [1, 1, 6]},
        {"kind": "flatten", "name": "flat"},
        {"kind": "dense", "name": "head", "units": 3},
    ],
}


@pytest.mark.parametrize("setup", ["paper", "int8-fp32grad", "float32"])
def test_a_spec_with_constants_executes_as_counted(setup):
    """``kind: constant`` in a spec: a class token concatenated to the tokens, a table of positions added. Its
    values are parameters (309 = patches 192 + 6, cls 6, pos 30, layer norm 12, mlp 36 + 6, head 18 + 3); the add
    of the table costs 5 x 6 = 30 MACC; every procedure executes it as counted, its schedules holding no buffer for
    a constant."""
    from learncost.procedures import PROCEDURES
    from learncost.spec import model_from_data
    from learncost.verify import verify

    m = model_from_data(SPEC, origin="tiny-vit.yaml")
    assert m.weights + m.biases == 309 and _forward(m)["embedded"] == 30
    v = verify(m, list(PROCEDURES), setup=setup)
    assert v.unexplained == []
    for c in v.checks:
        assert c.memory.schedule_mismatch == [] and c.memory.tracked_bytes == c.memory.schedule_bytes, c.procedure


class LayerNorm2d(nn.LayerNorm):
    """torchvision's: channels moved last, ``F.layer_norm``, moved back (fx traces into it)."""

    def forward(self, x):
        x = x.permute(0, 2, 3, 1)
        x = nn.functional.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class MiniConvNeXt(nn.Module):
    """ConvNeXt's block at a small size (C = 4 on 6 x 6): a 7x7 depthwise convolution, the channels moved last, a
    layer norm and a 4x wide GELU MLP at each position, moved back, scaled by a learned per-channel layer scale and
    added to the input; then the classifier's pool, LayerNorm2d, flatten and linear layer."""

    def __init__(self):
        super().__init__()
        self.dw = nn.Conv2d(4, 4, 7, padding=3, groups=4)
        self.ln = nn.LayerNorm(4)
        self.up, self.act, self.down = nn.Linear(4, 16), nn.GELU(), nn.Linear(16, 4)
        self.layer_scale = nn.Parameter(torch.rand(4, 1, 1))
        self.pool, self.norm, self.fc = nn.AdaptiveAvgPool2d(1), LayerNorm2d(4), nn.Linear(4, 3)

    def forward(self, x):
        y = self.down(self.act(self.up(self.ln(self.dw(x).permute(0, 2, 3, 1))))).permute(0, 3, 1, 2)
        x = x + self.layer_scale * y
        return self.fc(self.norm(self.pool(x)).flatten(1))


def test_channels_last_blocks_compute_what_pytorch_computes():
    """ConvNeXt's permutes between (N, C, H, W) and (N, H, W, C) are views, no layers; each linear layer is a 1x1
    convolution over the map, the layer norms the IR's over the channels, the layer scale a constant of 4 values.
    By hand: the depthwise 7 x 7 x 4 x 36 = 7,056; the layer norm 7 E + E / F = 7 x 144 + 36 = 1,044 (E = 144
    elements, F = 4 features); up 36 x 4 x 16 = 2,304, down the same; the scale and the residual 144 each; the pool
    144; the classifier's layer norm 7 x 4 + 1 = 29; fc 12. Executed with the module's weights, the graph gives
    its output."""
    from learncost.torch_build import build_module

    torch.manual_seed(0)
    net = MiniConvNeXt().eval()
    m = learncost.from_torch(net, (1, 4, 6, 6))
    assert m.warnings == [] and not any(lr.kind == "transpose" for lr in m.layers)
    f = {k: v for k, v in _forward(m).items() if v}
    assert f == {"dw": 7_056, "ln": 1_044, "up": 2_304, "down": 2_304, "mul": 144, "add": 144, "pool": 144,
                 "layer_norm": 29, "fc": 12}
    assert m.by_name["layer_scale"].kind == "constant" and m.by_name["layer_scale"].output_shape == (1, 1, 4)
    assert m.weights + m.biases == sum(p.numel() for p in net.parameters())
    ir = build_module(m)
    ops = ir.ops
    with torch.no_grad():
        for name in ("dw", "fc"):
            ops[name].weight.copy_(getattr(net, name).weight)
            ops[name].bias.copy_(getattr(net, name).bias)
        for name in ("up", "down"):
            ops[name].weight.copy_(getattr(net, name).weight[:, :, None, None])
            ops[name].bias.copy_(getattr(net, name).bias)
        norm = next(lr.name for lr in m.layers if lr.kind == "layer_norm" and lr.name != "ln")
        for name, module in (("ln", net.ln), (norm, net.norm)):
            ops[name].weight.copy_(module.weight)
            ops[name].bias.copy_(module.bias)
        ops["layer_scale"].value.copy_(net.layer_scale.unsqueeze(0))
        x = torch.randn(2, 4, 6, 6)
        assert torch.allclose(ir(x), net(x), atol=1e-5)


def test_onnx_channels_last_block(tmp_path):
    """ConvNeXt's block as PyTorch exports it to ONNX: Transpose [0, 2, 3, 1], LayerNormalization over the last axis,
    MatMul by constant weights at each position plus Add of a bias, a Transpose back, Mul by a layer scale, the
    residual Add. The transposes are views (no layer), each MatMul and its bias a 1x1 convolution, the layer norm the
    IR's over the channels, the scale folded into the convolution before it (the documented rule for a per-channel
    constant after a linear layer). By hand, on 6 x 6 x 4: depthwise 7 x 7 x 4 x 36 = 7,056; layer norm 7 x 144 + 36
    = 1,044; up 36 x 4 x 16 = 2,304, down the same; the residual 144; the pool 144; the Gemm 4 x 3 = 12."""
    pytest.importorskip("onnx")
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    def w(name, *shape):
        return numpy_helper.from_array(np.ones(shape, np.float32), name)

    nodes = [helper.make_node("Conv", ["x", "dw"], ["c"], group=4, pads=[3, 3, 3, 3]),
             helper.make_node("Transpose", ["c"], ["nhwc"], perm=[0, 2, 3, 1]),
             helper.make_node("LayerNormalization", ["nhwc", "g", "b"], ["ln"], axis=-1),
             helper.make_node("MatMul", ["ln", "up"], ["u"]), helper.make_node("Add", ["u", "ub"], ["ua"]),
             helper.make_node("Relu", ["ua"], ["r"]),
             helper.make_node("MatMul", ["r", "down"], ["d"]), helper.make_node("Add", ["d", "db"], ["da"]),
             helper.make_node("Transpose", ["da"], ["nchw"], perm=[0, 3, 1, 2]),
             helper.make_node("Mul", ["scale", "nchw"], ["s"]), helper.make_node("Add", ["s", "x"], ["res"]),
             helper.make_node("GlobalAveragePool", ["res"], ["p"]), helper.make_node("Flatten", ["p"], ["f"]),
             helper.make_node("Gemm", ["f", "fc"], ["y"], transB=1)]
    inits = [w("dw", 4, 1, 7, 7), w("g", 4), w("b", 4), w("up", 4, 16), w("ub", 16), w("down", 16, 4), w("db", 4),
             w("scale", 4, 1, 1), w("fc", 3, 4)]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 6, 6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], initializer=inits)
    path = tmp_path / "block.onnx"
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString())
    m = learncost.load_model(path)
    assert not any(lr.kind == "transpose" for lr in m.layers)
    f = {m.by_name[k].kind + ":" + str(m.by_name[k].output_shape): v for k, v in _forward(m).items() if v}
    assert f == {"depthwise_conv2d:(6, 6, 4)": 7_056, "layer_norm:(6, 6, 4)": 1_044, "conv2d:(6, 6, 16)": 2_304,
                 "conv2d:(6, 6, 4)": 2_304, "add:(6, 6, 4)": 144, "avg_pool2d:(1, 1, 4)": 144, "dense:(3,)": 12}
    convs = [lr for lr in m.layers if lr.kind == "conv2d"]
    assert [(lr.weights, lr.biases) for lr in convs] == [(64, 16), (64, 4)]  # each MatMul's Add is its bias
    assert any("constant scale or shift after a linear layer" in w for w in m.warnings)
