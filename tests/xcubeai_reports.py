"""X-CUBE-AI / ST Edge AI Core reports written by the tests, in the layouts public projects hold (the layouts
as the survey of real reports describes them: banner, summary keys, the model table's columns, the recap,
C-Arrays). Every MACC here is derived by hand from the model below, under X-CUBE-AI's convention:
conv and depthwise K*K*Cin/groups*Cout*Ho*Wo + Cout, dense in*out + out (before 6.0: in*out), a fused
activation 1 per element on a row of its own, pooling k*k per output element, softmax 15 per element."""

from __future__ import annotations

SPEC = """
name: tiny
id: tiny
dtype: int8
classes: 5
input: {shape: [8, 8, 3]}
layers:
  - {name: conv, kind: conv2d, filters: 4, kernel: 3, padding: same, activation: relu, bias_dtype: int32}
  - {name: dw, kind: depthwise_conv2d, kernel: 3, padding: same, activation: relu, bias_dtype: int32}
  - {name: pool, kind: avg_pool2d, global: true}
  - {name: fc, kind: dense, units: 5, bias_dtype: int32}
  - {name: softmax, kind: softmax}
"""

# conv: 3*3*3*4 * 8*8 = 6,912, + 4 biases = 6,916; its ReLU: 8*8*4 = 256 elements
# dw:   3*3*4 * 8*8 = 2,304, + 4 = 2,308; its ReLU: 256
# pool: global 8x8 on 4 channels: 64 per output element x 4 = 256
# fc:   4*5 = 20, + 5 = 25 (20 before X-CUBE-AI 6.0)
# softmax: 15 x 5 = 75
ROWS = [  # name, type, original, shape, params, size (B: int8 weights, int32 biases), macc, connected to
    ("input_0", "Input", None, (8, 8, 3), None, None, None, []),
    ("conv2d_0", "Conv2D", "CONV_2D", (8, 8, 4), 112, 124, 6_916, ["input_0"]),
    ("nl_0_nl", "Nonlinearity", "CONV_2D", (8, 8, 4), None, None, 256, ["conv2d_0"]),
    ("conv2d_1", "Conv2D", "DEPTHWISE_CONV_2D", (8, 8, 4), 40, 52, 2_308, ["nl_0_nl"]),
    ("nl_1_nl", "Nonlinearity", "DEPTHWISE_CONV_2D", (8, 8, 4), None, None, 256, ["conv2d_1"]),
    ("pool_2", "Pool", "AVERAGE_POOL_2D", (1, 1, 4), None, None, 256, ["nl_1_nl"]),
    ("dense_3", "Dense", "FULLY_CONNECTED", (5,), 25, 40, 25, ["pool_2"]),
    ("nl_4", "Nonlinearity", "SOFTMAX", (5,), None, None, 75, ["dense_3"]),
]
BLOCK = [0, 0, 0, 1, 1, 2, 3, 4]  # the m_id block each row belongs to
#: the C model: integer kernels drop the fused activations
C_MACC = 6_916 + 2_308 + 256 + 25 + 75  # 9,580
MODEL_MACC = C_MACC + 256 + 256  # 10,092
WEIGHTS = 124 + 52 + 40  # 216
ACTIVATIONS = 528
SCRATCH = [("conv2d_0_scratch0", 432), ("conv2d_1_scratch0", 64)]


def _n(x) -> str:
    return "" if x is None else f"{x:,}"


def _arrays(pool_style: str, with_fmt: bool) -> list[str]:
    pools = {"5": "activations", "7": "activations/**default**"}
    out = [f"C-Arrays ({len(SCRATCH) + 1})", "-" * 100,
           "c_id  name (*_array)        item/size    " + ("mem-pool     " if pool_style == "5" else "domain/mem-pool          ")
           + "c-type   " + ("fmt    " if with_fmt else "") + "comment", "-" * 100]
    for k, (name, size) in enumerate(SCRATCH):
        out.append(f"{k:<5} {name:<22} {size}/{size:<8} {pools[pool_style]:<24} int8_t   " + ("int8/sa " if with_fmt else ""))
    out.append(f"{len(SCRATCH):<5} conv2d_0_bias          4/16         weights/weights          const s32")
    return out + [""]


def v5(dense_bias: bool = False) -> str:
    """X-CUBE-AI 5.2: ``AI tools v5.2.0``; ``id layer (type) output shape param # connected to macc rom``; the
    dense layer's MACC without its bias (``dense_bias`` False, as 5.x prints it)."""
    fc = 25 if dense_bias else 20
    c_macc = C_MACC - 25 + fc
    lines = ["Neural Network Tools for STM32 v1.4.0 (AI tools v5.2.0)", "Created date       : 2021-03-01 10:00:00", "",
             "Exec/report summary (generate dur=0.52s err=0)", "-" * 100,
             "model file         : /models/tiny.tflite", "type               : tflite (tflite)",
             f"macc               : {c_macc + 512:,}", f"weights (ro)       : {WEIGHTS:,} B (0.21 KiB)",
             f"activations (rw)   : {ACTIVATIONS:,} B (528 B)", f"ram (total)        : 725 B (725 B) = 528 + 192 + 5",
             "", "-" * 100, "id  layer (type)         output shape      param #     connected to             macc           rom",
             "-" * 100]
    for row, block in zip(ROWS, BLOCK):
        name, typ, _, shape, params, size, macc, conn = row
        if name == "dense_3":
            macc = fc
        first = f"{block:<4}" if (block, name) in ((0, "input_0"), (1, "conv2d_1"), (2, "pool_2"), (3, "dense_3"),
                                                   (4, "nl_4")) else "    "
        shape_text = "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"
        lines.append(f"{first}{name + ' (' + typ + ')':<21}{shape_text:<18}{_n(params):<12}{', '.join(conn):<25}"
                     f"{_n(macc):<15}{'' if size is None else f'{size:,} (i)'}")
    lines += ["-" * 100, f"tiny p=177(0.69 KBytes) macc={c_macc + 512} rom=0.21 KBytes ram=528 B io_ram=197 B", ""]
    return "\n".join(lines + _arrays("5", True))


def v7(version: str = "7.1.0-RC3", original: bool = False) -> str:
    """X-CUBE-AI 6.0-7.3: ``(STM.ai v7.x)``; ``id layer (type) oshape param/size macc connected to | c_size
    c_macc c_type``; with ``original`` (7.2+) ``layer (type,original)`` and ``[b:1,h:8,w:8,c:4]`` shapes."""
    modern = version >= "7.3"
    key = (lambda k: f"{k:<19}:   ") if modern else (lambda k: f"{k:<22}: ")
    lines = [f"Neural Network Tools for STM32AI v1.6.0 (STM.ai v{version})", f"{key('Created date')}2022-06-01", "",
             "Exec/report summary (analyze)", "-" * 120,
             f"{key('model file')}/models/tiny.tflite", f"{key('macc')}{C_MACC:,}",
             f"{key('weights (ro)')}{WEIGHTS:,} B (216 B) (1 segment)",
             f"{key('activations (rw)')}{ACTIVATIONS:,} B (528 B) (1 segment) *",
             f"{key('ram (total)')}{ACTIVATIONS:,} B (528 B) = 528 + 0 + 0", "-" * 120,
             "(*) input/output buffers can be used from the activations buffer", "",
             "Model name - tiny ['input_0'] ['nl_4']", "-" * 160,
             "id   " + ("layer (type,original)" if original else "layer (type)").ljust(46) + "oshape".ljust(20)
             + "param/size     macc       connected to     |   c_size    c_macc            c_type", "-" * 160]
    for row, block in zip(ROWS, BLOCK):
        name, typ, orig, shape, params, size, macc, conn = row
        first = str(block).ljust(5) if name in ("input_0", "conv2d_1", "pool_2", "dense_3", "nl_4") else " " * 5
        label = f"{name} ({typ}, {orig or ''})" if original else f"{name} ({typ})"
        shape_text = ("[b:1," + ",".join(f"{a}:{v}" for a, v in zip("hwc" if len(shape) == 3 else "c", shape)) + "]"
                      if original else "(1," + ",".join(map(str, shape)) + ")")
        c_side = f"{'':12}-{macc:,}(-100.0%)" if typ == "Nonlinearity" and orig != "SOFTMAX" else ""
        lines.append(f"{first}{label:<46}{shape_text:<20}{'' if params is None else f'{params}/{size}':<15}"
                     f"{_n(macc):<11}{', '.join(conn):<17}|{c_side}")
    lines += ["-" * 160, f"model/c-model: macc={MODEL_MACC:,}/{C_MACC:,} -512(-5.1%) weights={WEIGHTS}/{WEIGHTS}  "
                         f"activations=--/{ACTIVATIONS} io=--/0", ""]
    return "\n".join(lines + _arrays("7", not modern))


def v8(banner: str = "Neural Network Tools for STM32 family v1.7.0 (stm.ai v8.1.0-19520)") -> str:
    """X-CUBE-AI 8.x and later (ST Edge AI Core): ``m_id``, rules of dash groups, numbers right-aligned, a
    further input on a continuation row under ``connected to``."""
    widths = [6, 36, 20, 12, 8, 16]
    rule = " ".join("-" * w for w in widths) + " --- " + "-" * 16
    lines = [banner, "Created date       :   2024-01-01", "", "Exec/report summary (generate)", "-" * 110,
             "model file         :   /models/tiny.tflite", "model_fmt          :   ss/sa per channel",
             "input 1/1          :   'input_0', int8(1x8x8x3), 192 Bytes, QLinear(0.1,-128,int8), activations",
             f"macc               :   {C_MACC:,}", f"weights (ro)       :   {WEIGHTS:,} B (216 B) (1 segment)",
             f"activations (rw)   :   {ACTIVATIONS:,} B (528 B) (1 segment) *",
             f"ram (total)        :   {ACTIVATIONS:,} B (528 B) = 528 + 0 + 0", "-" * 110, "", "Model name - tiny",
             rule, "m_id   " + "layer (type,original)".ljust(37) + "oshape".ljust(21) + "param/size".rjust(12)
             + "macc".rjust(9) + "connected to".rjust(17) + "   | c_type", rule]
    for row, block in zip(ROWS, BLOCK):
        name, typ, orig, shape, params, size, macc, conn = row
        first = str(block).ljust(7) if name in ("input_0", "conv2d_1", "pool_2", "dense_3", "nl_4") else " " * 7
        shape_text = "[b:1," + ",".join(f"{a}:{v}" for a, v in zip("hwc" if len(shape) == 3 else "c", shape)) + "]"
        label = f"{name} ({typ}, {orig or ''})"
        lines.append(f"{first}{label:<37}{shape_text:<21}{'' if params is None else f'{params}/{size}':>12}"
                     f"{_n(macc):>9}{(conn[0] if conn else ''):>17}   |")
        if name == "dense_3":  # its weights come in on a row of their own under ``connected to``
            lines.append(" " * 102 + "dense_3_weights   |")
    lines += [rule, f"model/c-model: macc={MODEL_MACC:,}/{C_MACC:,} -512(-5.1%) weights={WEIGHTS}/{WEIGHTS}  "
                    f"activations=--/{ACTIVATIONS} io=--/0", ""]
    return "\n".join(lines + _arrays("7", False))
