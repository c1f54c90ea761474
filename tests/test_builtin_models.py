"""Default mode: per-layer MACCs and output sizes of the built-in models, against hand derivations.

Each expectation is the arithmetic of the paper's formulas on the layer shapes, written out
(e.g. a 3x3 depthwise layer on a 25x5x64 map: 3*3*25*5*64).
"""

from __future__ import annotations

import math

import pytest

import learncost

# layer -> (forward MACC, output elements), by hand from the shapes
KWS = {
    "conv1": (10 * 4 * 1 * 25 * 5 * 64, 25 * 5 * 64),
    **{f"pad{i}": (0, 27 * 7 * 64) for i in range(1, 5)},
    **{f"dw{i}": (3 * 3 * 25 * 5 * 64, 25 * 5 * 64) for i in range(1, 5)},
    **{f"pw{i}": (1 * 1 * 64 * 25 * 5 * 64, 25 * 5 * 64) for i in range(1, 5)},
    "pool": (25 * 5 * 64, 64),
    "fc": (64 * 12, 12),
    "to_float": (2 * 12, 12), "softmax": (15 * 12, 12), "to_int8": (2 * 12, 12),
}

# MobileNetV1-0.25 blocks: (input side after the block's stride, channels in, channels out)
_VWW_BLOCKS = [(48, 8, 16), (24, 16, 32), (24, 32, 32), (12, 32, 64), (12, 64, 64), (6, 64, 128),
               (6, 128, 128), (6, 128, 128), (6, 128, 128), (6, 128, 128), (6, 128, 128), (3, 128, 256),
               (3, 256, 256)]
_VWW_IN = [48, 48, 24, 24, 12, 12, 6, 6, 6, 6, 6, 6, 3]  # side of each block's input
VWW = {"conv1": (3 * 3 * 3 * 48 * 48 * 8, 48 * 48 * 8)}
for i, ((side, cin, cout), side_in) in enumerate(zip(_VWW_BLOCKS, _VWW_IN), start=1):
    VWW[f"pad{i}"] = (0, (side_in + 2) ** 2 * cin)
    VWW[f"dw{i}"] = (3 * 3 * side * side * cin, side * side * cin)
    VWW[f"pw{i}"] = (cin * side * side * cout, side * side * cout)
VWW.update({"pool": (3 * 3 * 256, 256), "fc": (256 * 2, 2), "to_float": (2 * 2, 2), "softmax": (15 * 2, 2),
            "to_int8": (2 * 2, 2)})

IC = {
    "conv1": (3 * 3 * 3 * 32 * 32 * 16, 32 * 32 * 16), "pad1": (0, 34 * 34 * 16),
    "conv2": (3 * 3 * 16 * 32 * 32 * 16, 32 * 32 * 16), "pad2": (0, 34 * 34 * 16),
    "conv3": (3 * 3 * 16 * 32 * 32 * 16, 32 * 32 * 16), "add1": (32 * 32 * 16, 32 * 32 * 16),
    "pad3": (0, 34 * 34 * 16), "conv4": (3 * 3 * 16 * 16 * 16 * 32, 16 * 16 * 32), "pad4": (0, 18 * 18 * 32),
    "conv5": (3 * 3 * 32 * 16 * 16 * 32, 16 * 16 * 32), "shortcut1": (1 * 1 * 16 * 16 * 16 * 32, 16 * 16 * 32),
    "add2": (16 * 16 * 32, 16 * 16 * 32), "pad5": (0, 18 * 18 * 32),
    "conv6": (3 * 3 * 32 * 8 * 8 * 64, 8 * 8 * 64), "pad6": (0, 10 * 10 * 64),
    "conv7": (3 * 3 * 64 * 8 * 8 * 64, 8 * 8 * 64), "shortcut2": (1 * 1 * 32 * 8 * 8 * 64, 8 * 8 * 64),
    "add3": (8 * 8 * 64, 8 * 8 * 64), "pool": (8 * 8 * 64, 64), "fc": (64 * 10, 10),
    "to_float": (2 * 10, 10), "softmax": (15 * 10, 10), "to_int8": (2 * 10, 10),
}

_AE_UNITS = [640, 128, 128, 128, 128, 8, 128, 128, 128, 128, 640]
AD = {f"fc{i}": (_AE_UNITS[i - 1] * _AE_UNITS[i], _AE_UNITS[i]) for i in range(1, 11)}

EXPECTED = {"kws": KWS, "vww": VWW, "ic": IC, "ad": AD}


@pytest.mark.parametrize("model_id", list(EXPECTED))
def test_forward_and_output_sizes(model_id):
    a = learncost.analyze(model_id)
    expected = EXPECTED[model_id]
    got = {lr.name: (lr.macc["forward"], math.prod(lr.output_shape)) for lr in a.layers if lr.kind != "input"}
    assert got == expected


def test_kws_other_operations_by_hand():
    layers = {lr.name: lr.macc for lr in learncost.analyze("kws").layers}
    assert layers["conv1"]["backward"] == 0  # the first layer propagates no error
    assert layers["conv1"]["weight_update"] == 25 * 5 * 1 * 10 * 4 * 64
    assert layers["dw1"]["backward"] == 3 * 3 * 25 * 5 * 64
    assert layers["pool"]["backward"] == 25 * 5 * 64
    assert layers["pool"]["weight_update"] == 0
    assert layers["fc"]["goodness"] == layers["fc"]["normalization"] == 12
    assert layers["pw4"]["goodness"] == 25 * 5 * 64
    assert layers["input"]["projection"] == 12 * 49 * 10  # output error (12) onto the 49x10x1 input
    assert layers["to_int8"]["error"] == 12
    assert layers["softmax"]["backward"] == 0


def test_kws_procedure_totals_by_hand():
    a = learncost.analyze("kws")
    fwd = sum(f for f, _ in KWS.values())  # with the output head
    fwd_core = fwd - (24 + 180 + 24)  # FF does not run the softmax head
    bwd = 4 * (3 * 3 * 25 * 5 * 64 + 64 * 25 * 5 * 64) + 25 * 5 * 64 + 64 * 12
    wu = 10 * 4 * 25 * 5 * 64 + 4 * (3 * 3 * 25 * 5 * 64 + 64 * 25 * 5 * 64) + 64 * 12
    good = 9 * 25 * 5 * 64 + 12
    assert a.row("bp", "training").macc == fwd + bwd + wu + 12
    assert a.row("ff", "training").macc == 2 * (fwd_core + wu + 2 * good)
    assert a.row("ff", "inference").macc == 12 * (fwd_core + 2 * good)
    assert a.row("pepita", "training").macc == 2 * fwd + wu + 12 + 12 * 490
    assert a.row("mempepita", "training").macc == 3 * fwd + wu + 12 + 12 * 490
    for proc in ("bp", "pepita", "mempepita"):
        assert a.row(proc, "inference").macc == fwd


def test_kws_memory_by_hand():
    a = learncost.analyze("kws")
    stored = 490 + 9 * 8000 + 64 + 12 + 48  # input, 9 conv outputs, pool, dense, float softmax (4 B x 12)
    assert a.row("bp", "training").activations_bytes == stored
    assert a.row("bp", "training").ram_bytes == stored + 22016 + 588
    assert a.row("bp", "inference").activations_bytes == 8000 + 8000
    assert a.row("ff", "training").activations_bytes == 8000 + 8000 + 490
    assert a.row("mempepita", "training").activations_bytes == 8000 + 8000 + 8000


def test_resnet_memory_residual_by_hand():
    a = learncost.analyze("ic")
    # while the first add runs: conv3's output, the shortcut (conv1) and the sum, 16 KiB each
    assert a.row("bp", "inference").activations_bytes == 3 * 32 * 32 * 16
    assert a.row("mempepita", "training").activations_bytes == 4 * 32 * 32 * 16
    assert a.row("ff", "training").activations_bytes == 3 * 32 * 32 * 16 + 32 * 32 * 3


def test_latency_and_hours_by_hand():
    a = learncost.analyze("kws")
    row = a.row("bp", "training")
    assert row.latency_ms["stm32h735g-dk"] == pytest.approx(7666544 * 3 / 550e6 * 1e3)
    assert row.latency_ms["nucleo-g474re"] == pytest.approx(7666544 * 4.5 / 170e6 * 1e3)
    assert row.train_hours["stm32h735g-dk"] == pytest.approx(7666544 * 3 / 550e6 * 36 * 85511 / 3600)


def test_autoencoder_is_unsupervised():
    a = learncost.analyze("ad")
    assert not a.model.supervised
    # one FF inference pass, no input kept: the pair (fc1 output, input) or (fc9, fc10) = 768 B
    assert a.row("ff", "inference").activations_bytes == 128 + 640
    assert a.row("ff", "training").activations_bytes == 128 + 640 + 640
