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
