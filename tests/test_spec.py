"""Model specs: shapes inferred and checked; every error names the layer and the field."""

from __future__ import annotations

import pytest

import learncost
from conftest import run_cli
from learncost.errors import SpecError

BASE = {"name": "tiny", "input": {"shape": [8, 8, 2]}, "classes": 3}


def spec(*layers, **extra):
    return {**BASE, **extra, "layers": list(layers)}


def test_shapes_and_parameters_inferred():
    m = learncost.load_spec(spec(
        {"name": "c", "kind": "conv2d", "filters": 4, "kernel": 3, "stride": 2, "padding": "same"},
        {"name": "p", "kind": "pad", "padding": [1, 0, 0, 1]},
        {"name": "d", "kind": "depthwise_conv2d", "kernel": [2, 3], "depth_multiplier": 2},
        {"name": "f", "kind": "flatten"},
        {"name": "fc", "kind": "dense", "units": 3, "use_bias": False},
    ))
    shapes = {layer.name: layer.output_shape for layer in m.layers}
    # same padding, stride 2: ceil(8/2) = 4; pad 1 top, 1 right -> 5x5; 2x3 kernel valid -> 4x3, 4*2 channels
    assert shapes == {"input": (8, 8, 2), "c": (4, 4, 4), "p": (5, 5, 4), "d": (4, 3, 8), "f": (96,), "fc": (3,)}
    by = m.by_name
    assert (by["c"].weights, by["c"].biases) == (3 * 3 * 2 * 4, 4)
    assert (by["d"].weights, by["d"].biases) == (2 * 3 * 8, 8)
    assert (by["fc"].weights, by["fc"].biases) == (96 * 3, 0)
    assert by["c"].padding == (0, 1, 0, 1)  # TF 'same': (4-1)*2+3-8 = 1, the extra row at the bottom


def test_toml_spec(tmp_path):
    path = tmp_path / "m.toml"
    path.write_text('name = "t"\nclasses = 2\n[input]\nshape = [4]\n[[layers]]\nkind = "dense"\nunits = 2\n')
    m = learncost.load_model(path)
    assert m.layers[-1].weights == 4 * 2


def test_classes_inferred_with_a_warning():
    m = learncost.load_spec({"name": "t", "input": {"shape": [4]}, "layers": [{"kind": "dense", "units": 5}]})
    assert m.classes == 5 and "inferred" in m.warnings[0]


@pytest.mark.parametrize("layers,extra,location,message", [
    ([{"name": "c", "kind": "conv2d", "filters": 4, "kernel": 9}], {}, "layers[0] (c).kernel",
     "kernel 9x9 is larger than the padded input 8x8"),
    ([{"kind": "conv2d", "filters": 4, "kernel": 3, "stride": 0}], {}, "layers[0].stride", "must be >= 1"),
    ([{"name": "a", "kind": "conv2d", "filters": 4, "kernel": 1}, {"name": "b", "kind": "conv2d", "filters": 8, "kernel": 1},
      {"name": "s", "kind": "add", "inputs": ["a", "b"]}], {}, "layers[2] (s).inputs", "channel or size mismatch"),
    ([{"kind": "conv2d", "filtres": 4, "kernel": 3}], {}, "layers[0].filtres", "Extra inputs are not permitted"),
    ([{"kind": "conv2d", "kernel": 3}], {}, "layers[0].filters", "positive integer"),
    ([{"kind": "conv3d"}], {}, "layers[0].kind", "unknown layer kind 'conv3d'"),
    ([{"kind": "dense", "units": 3, "inputs": ["nowhere"]}], {}, "layers[0].inputs", "no earlier layer named 'nowhere'"),
    ([{"kind": "dense", "units": 4}], {}, "classes", "is 3 but the output layer"),
    ([{"kind": "dense", "units": 3, "dtype": "int7"}], {}, "layers[0].dtype", "unknown dtype 'int7'"),
    ([{"kind": "reshape", "shape": [5, 5]}], {}, "layers[0].shape", "holds 25 elements"),
    ([{"kind": "dense", "units": 3}], {"task": "clustering"}, "task", "Input should be"),
])
def test_spec_errors_name_layer_and_field(layers, extra, location, message):
    with pytest.raises(SpecError) as err:
        learncost.load_spec(spec(*layers, **extra))
    assert location in err.value.line()
    assert message in err.value.line()


@pytest.mark.parametrize("content,message", [
    ("name: x\ninput: {shape: [8\n", "not valid YAML at line"),
    ("- just\n- a list\n", "a model spec must be a mapping"),
    ("", "a model spec must be a mapping"),
    ("name: x\nlayers: []\ninput: {shape: [2]}\n", "layers: List should have at least 1 item"),
])
def test_bad_spec_files_via_cli(tmp_path, content, message):
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    out = run_cli("analyze", str(path))
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1
    assert message in out.stderr and "bad.yaml" in out.stderr


def test_binary_file_via_cli(tmp_path):
    path = tmp_path / "random.yaml"
    path.write_bytes(bytes(range(256)) * 3)
    out = run_cli("analyze", str(path))
    assert out.returncode == 2 and "not a text model spec" in out.stderr
