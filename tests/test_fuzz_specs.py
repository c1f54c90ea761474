"""Fuzzed model specs: hostile values in every field of nearly valid specs, random spec grammars and
corrupted YAML text, through analyze, fit and sweep. Invariants: fuzz_harness.check. The budget is
fixed and derandomized (the same cases on every run) so the suite fits CI."""

from __future__ import annotations

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzz_harness import check

def budget(examples: int) -> settings:
    """A fixed, derandomized number of cases: the same ones on every run, within CI's time."""
    return settings(max_examples=examples, derandomize=True, deadline=None, database=None, print_blob=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])

HOSTILE_TEXT = ["[/x]", "[bold red]b", "\x1b[31mred\x1b[0m", "a|b", "\u202eevil", "x" * 300, "", "{i}", "$\\frac$",
                "a\nb", "\x00", "é漢字", " ", "-", "input"]
NAMES = st.one_of(st.sampled_from(HOSTILE_TEXT), st.text(max_size=8))
INTS = st.one_of(st.integers(-3, 70), st.sampled_from([0, -1, 2**31 - 1, 2**31, 2**63, 10**19, 10**400]), st.booleans())
FLOATS = st.sampled_from([float("nan"), float("inf"), -float("inf"), 1e308, 2.5, 3.0, -0.0])

# expressions: arithmetic over parameters, with the hostile forms the issue found
ATOMS = st.one_of(st.sampled_from(["width", "i", "alpha", "nope", "2", "0", "64", "10**9", "1e308", "'a'", "True"]),
                  st.integers(-5, 70).map(str))


def _compose(inner):
    return st.one_of(
        st.tuples(inner, st.sampled_from(["+", "-", "*", "/", "//", "%", "**"]), inner).map(lambda t: f"({t[0]}{t[1]}{t[2]})"),
        st.tuples(st.sampled_from(["int", "round", "floor", "ceil", "abs", "max", "min", "len", "print"]), inner)
        .map(lambda t: f"{t[0]}({t[1]})"),
        inner.map(lambda a: f"{a}.zfill(10**9)"), inner.map(lambda a: f"-{a}"),
        inner.map(lambda a: f"{a} if 1 else 2"), inner.map(lambda a: f"[{a}][0]"))


EXPRS = st.recursive(ATOMS, _compose, max_leaves=12).map(lambda e: "=" + e)
VALUES = st.one_of(INTS, FLOATS, NAMES, EXPRS, st.lists(INTS, max_size=4), st.none(), st.just({"a": 1}))
KINDS = ["conv2d", "depthwise_conv2d", "dense", "avg_pool2d", "max_pool2d", "pad", "add", "concat", "reshape",
         "flatten", "softmax", "quantize", "dequantize", "input", "bogus", "opaque"]
FIELDS = ["filters", "units", "kernel", "stride", "padding", "depth_multiplier", "shape", "inputs", "name", "global",
          "use_bias", "dtype", "weight_dtype", "activation", "note", "bogus_field"]

# a small valid network, so that hostile values reach the builders, formulas and reports
BASE = {
    "name": "fuzz", "parameters": {"width": {"default": 8}, "blocks": 2, "alpha": 0.5},
    "input": {"shape": [12, 12, 3]},
    "layers": [
        {"name": "conv1", "kind": "conv2d", "filters": "=width", "kernel": 3, "padding": "same"},
        {"repeat": "=blocks", "layers": [
            {"name": "dw{i}", "kind": "depthwise_conv2d", "kernel": 3, "padding": "same"},
            {"name": "pw{i}", "kind": "conv2d", "filters": "=int(width * (1 + alpha))", "kernel": 1}]},
        {"name": "pool", "kind": "avg_pool2d", "global": True},
        {"name": "fc", "kind": "dense", "units": 4},
        {"name": "softmax", "kind": "softmax"},
    ],
}


def _mutate(spec: dict, edits: list) -> dict:
    import copy

    out = copy.deepcopy(spec)
    for where, field, value in edits:
        layers = out["layers"]
        if where == "top":
            out[field if field in ("name", "classes", "task", "dataset", "dtype") else "classes"] = value
        elif where == "input":
            out["input"]["shape"] = value if isinstance(value, list) else [value, 12, 3]
        elif where == "param":
            out["parameters"]["width"] = {"default": value} if not isinstance(value, dict) else value
        elif where == "repeat":
            layers[1]["repeat"] = value
        else:
            target = layers[where % len(layers)]
            target = target["layers"][0] if "repeat" in target else target
            target[field] = value
    return out


EDITS = st.lists(st.tuples(st.one_of(st.sampled_from(["top", "input", "param", "repeat"]), st.integers(0, 5)),
                           st.sampled_from(FIELDS + ["classes", "task", "dataset", "kind"]), VALUES),
                 min_size=0, max_size=3)
COMMANDS = st.sampled_from([["analyze", "-f", "json"], ["analyze", "--per-layer", "-f", "markdown"],
                            ["analyze", "--per-layer"], ["fit", "-f", "json", "-m", "disco-f746ng"],
                            ["analyze", "-f", "csv", "--param", "width=16"], ["sweep", "--param", "width=4:16:4", "-f", "json"],
                            ["sweep", "--param", "blocks=0,1,3", "--param", "alpha=0.25,1.5", "-f", "csv"]])


def _dump(spec) -> str:
    return yaml.safe_dump(spec, allow_unicode=True, sort_keys=False)


@budget(500)
@given(edits=EDITS, command=COMMANDS)
def test_hostile_values_in_a_valid_spec(fuzz_worker, case_dir, edits, command):
    cwd = case_dir()
    (cwd / "m.yaml").write_text(_dump(_mutate(BASE, edits)), encoding="utf-8")
    argv = [command[0], "m.yaml", *command[1:]]
    before = {p.name for p in cwd.iterdir()}
    check(fuzz_worker.run(argv, cwd), argv, cwd, before, "specs: hostile values")


LAYER = st.fixed_dictionaries({"kind": st.sampled_from(KINDS)},
                              optional={f: VALUES for f in FIELDS})
SPECS = st.fixed_dictionaries(
    {"name": NAMES, "input": st.one_of(st.fixed_dictionaries({"shape": st.lists(INTS, max_size=4)}), VALUES)},
    optional={"layers": st.lists(st.one_of(LAYER, st.fixed_dictionaries({"repeat": VALUES, "layers": st.lists(LAYER, max_size=2)})),
                                 max_size=5),
              "parameters": st.dictionaries(st.sampled_from(["width", "i", "int", "x y", "alpha"]),
                                            st.one_of(INTS, FLOATS, st.fixed_dictionaries({"default": VALUES})), max_size=3),
              "classes": VALUES, "task": st.sampled_from(["classification", "regression", "nope"])})


@budget(300)
@given(spec=SPECS, fmt=st.sampled_from(["json", "table", "markdown"]))
def test_random_specs(fuzz_worker, case_dir, spec, fmt):
    cwd = case_dir()
    (cwd / "r.yaml").write_text(_dump(spec), encoding="utf-8")
    argv = ["analyze", "r.yaml", "-f", fmt]
    check(fuzz_worker.run(argv, cwd), argv, cwd, {"r.yaml"}, "specs: random grammar")


SNIPPETS = ["&a ", "*a", "[", "]", "{", "}", "- ", ": ", "!!python/object:os.system ", "<<: *a", "'", '"', "\t",
            "\x00", "\ufeff", "%YAML 1.1\n", "---\n", "? ", "|\n", "9" * 40, "~", ".nan", "=", "\\"]


@budget(300)
@given(edits=st.lists(st.tuples(st.integers(0, 2000), st.integers(0, 6), st.sampled_from(SNIPPETS)), min_size=1,
                      max_size=6),
       suffix=st.sampled_from([".yaml", ".toml"]))
def test_corrupted_spec_text(fuzz_worker, case_dir, edits, suffix):
    text = _dump(BASE) if suffix == ".yaml" else _TOML
    for pos, cut, snippet in edits:
        pos %= len(text) + 1
        text = text[:pos] + snippet + text[pos + cut:]
    cwd = case_dir()
    (cwd / f"t{suffix}").write_text(text, encoding="utf-8", errors="surrogatepass")
    argv = ["analyze", f"t{suffix}", "-f", "json"]
    check(fuzz_worker.run(argv, cwd), argv, cwd, {f"t{suffix}"}, "specs: corrupted text")


_TOML = """name = "fuzz"
[parameters]
width = 8
[input]
shape = [12, 12, 3]
[[layers]]
name = "conv1"
kind = "conv2d"
filters = "=width"
kernel = 3
[[layers]]
repeat = 2
layers = [{name = "dw{i}", kind = "depthwise_conv2d", kernel = 3, padding = "same"}]
[[layers]]
name = "fc"
kind = "dense"
units = 4
"""
