"""A sweep's union of layer lists (``learncost.union``): variants that differ only in one repeat's
count are evaluated as one model, each layer weighed by its copies in each variant (none for the
blocks a variant lacks; B - 1 for a second block standing for identical blocks 2..B).

Every expected figure here comes from an independent path: each variant built alone through the
scalar spec loader and analysed by ``analyze`` (the path the paper tests pin to the published
sheet), and the same sweep with the union turned off (one pass per layer list). The tests also
say which sweeps take the union and which decline it, and why.
"""

import itertools

import numpy as np
import pytest

from learncost import params as P
from learncost import sweep, union
from learncost.analysis import analyze
from learncost.engines import Rates, cycles
from learncost.errors import LearncostError, LimitError
from learncost.ir import Layer, Model
from learncost.memory import Candidate, buffers, peak
from learncost.setups import load as load_setup
from learncost.spec import model_from_data
from learncost.zoo import builtin_spec

#: a board timed by the paper's cycles/MACC, one by an engine profile (per-kind rates), one never timed
BOARDS = ["stm32h735g-dk", "nucleo-g474re", "disco-f746ng"]
#: the procedures with a rule of the paper's for every phase (the union's domain)
PROCEDURES = ["bp", "ff", "pepita", "mempepita", "fa", "dfa", "drtp", "mezo"]


class Checks(list):
    """The reasons the sweep's union checks gave (None: the union was taken); ``identical``: whether
    each union kept two blocks for all (identical blocks) or every block."""

    identical: list


@pytest.fixture
def spy(monkeypatch):
    seen = Checks()
    seen.identical = []
    check = union.check

    def recording(model, plan, region, *args, **kwargs):
        seen.append(check(model, plan, region, *args, **kwargs))
        seen.identical.append(region.identical)
        return seen[-1]

    monkeypatch.setattr(union, "check", recording)
    return seen


def _arrays(s):
    out = {"valid": s.valid, "forward_macc": s.forward_macc, "params_bytes": s.params_bytes}
    for name in ("macc", "ram", "flash", "params", "samples", "cycles"):
        for key, value in getattr(s, name).items():
            out[(name, *key)] = value
    return out


def _same_as_without_union(spec, values, monkeypatch, **kwargs):
    """The sweep, and the same sweep evaluated one layer list at a time: every array and error equal."""
    s = sweep.run(spec, values, **kwargs)
    with monkeypatch.context() as m:
        m.setattr(union, "eligible", lambda *a: False)
        alone = sweep.run(spec, values, **kwargs)
    a, b = _arrays(s), _arrays(alone)
    assert a.keys() == b.keys()
    for key in a:
        assert np.array_equal(a[key], b[key]), key
    assert s.errors == alone.errors
    return s


def _agrees_with_each_analysis(s, data, values, procedures=None, setup=None):
    """Every figure of every possible variant is its own analysis's (under the sweep's memory accounting)."""
    for v, combo in enumerate(itertools.product(*values.values())):
        assignment = dict(zip(values, combo))
        if not s.valid[v]:
            continue
        a = analyze(model_from_data(data, origin="t", values=assignment), procedures, mcus=s.mcus, setup=setup,
                    memory=s.memory)
        assert s.forward_macc[v] == sum(lr.macc["forward"] for lr in a.layers)
        for r in a.rows:
            key = (r.procedure, r.phase)
            assert (s.macc[key][v], s.ram[key][v], s.params[key][v]) == (r.macc, r.ram_bytes, r.params_bytes), \
                (assignment, key)
            for m in s.mcus:
                ms = s.latency_ms(r.procedure, r.phase, m)
                assert (None if ms is None else ms[v]) == r.latency_ms[m.id], (assignment, key, m.id)


# --- the kws grid: the union is taken and exact ---------------------------------------------

KWS = {"filters": [8, 24, 64], "blocks": [1, 2, 3, 5, 8]}


def test_kws_blocks_are_one_pass_with_each_variants_own_figures(spy, monkeypatch):
    """Five layer lists, one pass: every figure of every variant equals its own analysis, latency
    exactly (the same floating-point operations), and the sweep without the union."""
    s = _same_as_without_union("kws", KWS, monkeypatch, mcus=BOARDS)
    assert spy == [None] and spy.identical == [True] and s.valid.all()
    _agrees_with_each_analysis(s, builtin_spec("kws"), KWS)


def test_kws_at_the_papers_four_blocks_matches_the_published_model(spy):
    # the union's variant at 4 blocks and 64 filters is the paper's DS-CNN: BP training 7,666,544 MACC and
    # 95,218 B of RAM (the README's table, 7.7 M and 95.2 KB, from the sheet; test_paper_as_published)
    s = sweep.run("kws", {"filters": [64], "blocks": [1, 4, 9]}, ["bp"], ["stm32h735g-dk"])
    assert spy == [None] and spy.identical == [True]
    assert s.macc[("bp", "training")][1] == 7_666_544
    assert s.ram[("bp", "training")][1] == 95_218


@pytest.mark.parametrize("setup", ["bias-only", "float32"])
def test_setups_that_select_no_layer_by_position_take_the_union(setup, spy, monkeypatch):
    s = _same_as_without_union("kws", KWS, monkeypatch, mcus=BOARDS, setup=setup, memory="paper")
    assert spy and spy[0] is None
    _agrees_with_each_analysis(s, builtin_spec("kws"), KWS, setup=setup)


# --- where the union declines, and the figures are still each variant's own ------------------

def _chain():
    """A spec written for these tests: a stem, a repeat of shape-keeping blocks, a classifier."""
    body = [
        {"name": "a{i}", "kind": "conv2d", "filters": "=width", "kernel": 3, "padding": "same", "activation": "relu"},
        {"name": "b{i}", "kind": "conv2d", "filters": "=width", "kernel": 1},
    ]
    spec = {
        "name": "chain", "classes": 5,
        "parameters": {"width": {"default": 8}, "blocks": {"default": 2}},
        "input": {"shape": [10, 10, 2]},
        "layers": [
            {"name": "stem", "kind": "conv2d", "filters": "=width", "kernel": 3, "padding": "same"},
            {"repeat": "=blocks", "layers": body},
            {"name": "pool", "kind": "avg_pool2d", "global": True},
            {"name": "fc", "kind": "dense", "units": 5},
        ],
    }
    return spec


def _residual():
    """Each block adds its input (the previous block's sum, or the stem's output) back: a ResNet shortcut.
    ``in{i}`` (a ReLU) names the block's input so that the add can read it."""
    spec = _chain()
    spec["layers"][1] = {"repeat": "=blocks", "layers": [
        {"name": "in{i}", "kind": "activation", "function": "relu"},
        {"name": "a{i}", "kind": "conv2d", "filters": "=width", "kernel": 3, "padding": "same", "activation": "relu"},
        {"name": "b{i}", "kind": "conv2d", "filters": "=width", "kernel": 3, "padding": "same"},
        {"name": "sum{i}", "kind": "add", "inputs": ["b{i}", "in{i}"]},
    ]}
    return spec


def _edited(edit):
    spec = _chain()
    edit(spec)
    return spec


CASES = {
    # reason None: the union is taken
    "chain": (_chain(), None),
    "residual blocks": (_residual(), None),
    "widening blocks": (_edited(lambda s: s["layers"][1]["layers"][1].update(filters="=width * i")),
                        "ends in another shape"),
    # odd blocks 3x3, even blocks 1x1: not identical, so every block is kept, each masked where absent
    "blocks differing by index": (_edited(lambda s: s["layers"][1]["layers"][0].update(kernel="=1 + 2 * (i % 2)")),
                                  None),
    # batch normalization left unfolded inside the blocks (its shift makes its forward 2 MACC an element)
    "batch norm in the blocks": (_edited(lambda s: s["layers"][1]["layers"].insert(1, {"name": "bn{i}",
                                                                                     "kind": "batch_norm"})), None),
    "a block reading the stem": (_edited(lambda s: s["layers"][1]["layers"][1].update(inputs=["stem"])),
                                 "reads outside itself"),
    "no weights after the repeat": (_edited(lambda s: (s["layers"].pop(), s.update(classes="=width"))),
                                    "trained or read unlike"),
    # pool reads b2: the 1-block variants are impossible, the others read their second block's output
    "the classifier naming its input": (_edited(lambda s: s["layers"][2].update(inputs=["b2"])), "names its input"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_each_spec_gives_each_variants_own_figures_union_or_not(name, spy, monkeypatch):
    spec, reason = CASES[name]
    values = {"width": [4, 6], "blocks": [1, 2, 3]}
    s = _same_as_without_union(spec, values, monkeypatch, mcus=BOARDS)
    assert spy, "a union was considered"
    assert spy[0] is None if reason is None else reason in spy[0]
    assert spy.identical[0] == (name != "blocks differing by index" and name != "widening blocks")
    _agrees_with_each_analysis(s, spec, values)


def test_a_union_whose_largest_count_could_pass_int64_goes_count_by_count(spy, monkeypatch):
    """50,000 filters: one or two blocks keep every figure within int64 with the bound's margin, 30 do not
    (``overflow.bound`` of each variant's own model: 0.17, 0.32 and 4.6 times 2^62): that variant is set
    aside with the reason, the others keep their figures."""
    values = {"filters": [50_000], "blocks": [1, 2, 30]}
    s = _same_as_without_union("kws", values, monkeypatch, procedures=["bp"], mcus=["stm32h735g-dk"])
    assert spy == []  # the union's bound (per copy) sent it count by count before any check
    assert s.valid.tolist() == [True, True, False] and "may pass 64-bit integers" in s.errors[2]
    _agrees_with_each_analysis(s, builtin_spec("kws"), values, ["bp"])


@pytest.mark.parametrize("kwargs", [
    {"setup": "last-k"},  # a last-k selection depends on the count: declined before any layer is built
    {"procedures": ["bp-checkpoint"]},  # recomputes segments whose cuts depend on the body's length
    {"memory": "live"},  # a schedule's tensors carry no copies
])
def test_what_depends_on_the_count_is_declined_before_building(kwargs, spy, monkeypatch):
    s = _same_as_without_union("kws", {"filters": [8, 16], "blocks": [1, 2, 3]}, monkeypatch, mcus=BOARDS, **kwargs)
    assert spy == []  # never considered
    assert s.valid.all()


def test_procedures_without_a_paper_rule_decline_the_union(spy, monkeypatch):
    _same_as_without_union("kws", {"filters": [8, 16], "blocks": [1, 2, 3]}, monkeypatch,
                           procedures=["bp", "forward-gradient"], mcus=BOARDS)
    assert spy and "forward-gradient has no rule of the paper's" in spy[0]


@pytest.mark.parametrize("feedback", ["uncounted", "flash", "regenerated"])
def test_feedback_procedures_take_the_union_with_their_matrices_masked(feedback, spy, monkeypatch):
    """FA's B_l (shaped like W_l), DFA's and DRTP's (output x classes) sit on layers a variant may lack: in
    flash, or regenerated each sample, they count only where the variant has the layer."""
    setup = load_setup("paper").model_copy(update={"feedback": feedback})
    procedures = ["fa", "dfa", "drtp", "mezo", "pepita", "ff"]
    s = _same_as_without_union("kws", KWS, monkeypatch, procedures=procedures, mcus=BOARDS, setup=setup)
    assert spy == [None]
    _agrees_with_each_analysis(s, builtin_spec("kws"), KWS, procedures, setup=setup)
    flash = s.flash[("fa", "training")]
    if feedback == "flash":  # B_l on every layer that passes an error on: more flash with more blocks
        assert (flash > s.params_bytes).all() and flash[1] > flash[0]


def test_a_union_lifts_the_limit_on_layer_lists_evaluated_apart(spy):
    """1,000 block counts hold 1,507,500 layers over their lists (3 b + 6 each), past the 50,000 one sweep
    evaluates a list at a time (``limits.MAX_SWEEP_LAYERS``); as a union of two identical blocks they are one
    pass. The 1,000-block variant equals its own analysis."""
    values = {"filters": [8, 16], "blocks": list(range(1, 1001))}
    s = sweep.run("kws", values, ["bp", "ff"], ["stm32h735g-dk"])
    assert spy == [None] and spy.identical == [True] and s.valid.all()
    a = analyze(model_from_data(builtin_spec("kws"), origin="t", values={"filters": 16, "blocks": 1000}),
                ["bp", "ff"], ["stm32h735g-dk"])
    for r in a.rows:
        key = (r.procedure, r.phase)
        assert (s.macc[key][1999], s.ram[key][1999]) == (r.macc, r.ram_bytes)


def test_the_limit_on_layer_lists_holds_where_the_union_cannot_serve(spy):
    values = {"filters": [8], "blocks": list(range(1, 1001))}
    # declined before building (a last-k selection): refused before any pass, as before the union
    with pytest.raises(LimitError, match="1,000 distinct layer lists with 1,507,500 layers"):
        sweep.run("kws", values, ["bp"], ["stm32h735g-dk"], setup="last-k")
    assert spy == []
    # declined by the check (no weights after the repeat): refused before the first pass per count
    spec = _edited(lambda s: (s["layers"].pop(), s.update(classes="=width")))
    with pytest.raises(LimitError, match="1,000 distinct layer lists"):
        sweep.run(spec, {"width": [4], "blocks": list(range(1, 1001))}, ["bp"], ["stm32h735g-dk"])
    assert len(spy) == 1 and "trained or read unlike" in spy[0]


def test_a_count_of_zero_declines_the_union(spy, monkeypatch):
    s = _same_as_without_union("kws", {"filters": [8], "blocks": [0, 1, 2]}, monkeypatch, mcus=BOARDS)
    assert spy == [] and s.valid.all()  # resolved without a block for some variant: never checked


def test_an_impossible_variant_sends_the_group_to_one_pass_per_count(monkeypatch):
    # 3 blocks of a valid 3x3 convolution shrink a 6x6 map to 0x0: the 3-block variants are impossible,
    # with the reason their own build gives; the others keep their figures
    spec = _chain()
    spec["input"] = {"shape": [6, 6, 2]}
    spec["layers"][1]["layers"][0]["padding"] = "valid"
    s = _same_as_without_union(spec, {"width": [4], "blocks": [1, 2, 3]}, monkeypatch, mcus=BOARDS)
    assert s.valid.tolist() == [True, True, False]
    assert "larger than the padded input" in s.errors[2]


# --- random repeats: the union never changes a figure --------------------------------------------

def _random_spec(rng):
    """A repeat of one of five block shapes (some identical, some not, some the union declines), with one
    of three tails, for the seeded comparison below."""
    shape = rng.choice(["chain", "residual", "bottleneck", "dwsep", "odd"])
    body = {
        "chain": [{"name": "c{i}", "kind": "conv2d", "filters": "=width", "kernel": rng.choice([1, 3]),
                   "padding": rng.choice(["same", "valid"]), "activation": "relu"}],
        "residual": _residual()["layers"][1]["layers"],
        "bottleneck": [{"name": "e{i}", "kind": "conv2d", "filters": "=width * 3", "kernel": 1},
                       {"name": "bn{i}", "kind": "batch_norm"},
                       {"name": "d{i}", "kind": "depthwise_conv2d", "kernel": 3, "padding": "same"},
                       {"name": "p{i}", "kind": "conv2d", "filters": "=width", "kernel": 1}],
        "dwsep": [{"name": "pad{i}", "kind": "pad", "padding": 1},
                  {"name": "dw{i}", "kind": "depthwise_conv2d", "kernel": 3, "activation": "relu"},
                  {"name": "pw{i}", "kind": "conv2d", "filters": "=width", "kernel": 1}],
        "odd": [{"name": "c{i}", "kind": "conv2d", "filters": rng.choice(["=width", "=width * i"]),
                 "kernel": "=1 + 2 * (i % 2)", "padding": "same"},
                {"name": "r{i}", "kind": "conv2d", "filters": "=width", "kernel": 1}],
    }[shape]
    tail = rng.choice([
        [{"name": "pool", "kind": "avg_pool2d", "global": True}, {"name": "fc", "kind": "dense", "units": 4}],
        [{"name": "flat", "kind": "flatten"}, {"name": "fc", "kind": "dense", "units": 4}, {"name": "sm", "kind": "softmax"}],
        [{"name": "pool", "kind": "avg_pool2d", "global": True}],
    ])
    stem = [{"name": "stem", "kind": "conv2d", "filters": "=width", "kernel": 3, "padding": "same"}] \
        if rng.random() < 0.8 else []
    return {"name": "random", "classes": "=width" if len(tail) == 1 else 4,
            "parameters": {"width": {"default": 4}, "blocks": {"default": 2}},
            "input": {"shape": [rng.choice([6, 8]), 8, rng.choice([1, 3])]},
            "layers": [*stem, {"repeat": "=blocks", "layers": body}, *tail]}


def test_random_repeats_give_the_same_figures_with_or_without_the_union(spy, monkeypatch):
    """40 seeded cases (a differential fuzz of 8,893 such cases found nothing more once batch norm's
    formula was fixed): every array and error equal, whether the union is taken or declined."""
    import random

    rng = random.Random(17)
    for _ in range(40):
        spec = _random_spec(rng)
        values = {"width": rng.sample([2, 3, 4, 6], 2), "blocks": sorted(rng.sample(range(1, 7), 3))}
        kwargs = {"procedures": rng.sample(PROCEDURES, 3), "mcus": BOARDS, "memory": "paper",
                  "setup": load_setup(rng.choice(["paper", "bias-only", "float32"]))}
        try:
            _same_as_without_union(spec, values, monkeypatch, **kwargs)
        except LearncostError as exc:  # no variant can be built: the same error line without the union
            with monkeypatch.context() as m, pytest.raises(LearncostError) as alone:
                m.setattr(union, "eligible", lambda *a: False)
                sweep.run(spec, values, **kwargs)
            assert exc.line() == alone.value.line()
    assert None in spy and any(reason is not None for reason in spy)  # both sides were exercised


# --- the masked rules, by hand ----------------------------------------------------------------

def _layer(name, inputs, elements):
    return Layer(name, "relu" if inputs else "input", tuple(inputs), ((elements,),) if inputs else (), (elements,))


def test_masked_rules_count_what_each_variant_has():
    """A chain input(10) -> a(20) -> b(30) -> c(5); b is once in the first variant, absent in the second
    (as if its chain were input -> a -> c, c reading a's buffer at b's size, as a repeat of shape-keeping
    blocks guarantees), twice in the third (two identical blocks). By hand: all buffers 10+20+30+5 = 65,
    35 without b, 95 with b twice; the largest pair: a's step 10+20, b's step 20+30 = 50 (the second
    variant has no such step; in the third both of b's steps give it), c's step 30+5 = 35: so 50, 35, 50."""
    model = Model("m", [_layer("input", [], 10), _layer("a", ["input"], 20), _layer("b", ["a"], 30),
                        _layer("c", ["b"], 5)])
    copies = {"b": np.array([1, 0, 2])}
    sizes = {n: np.array([s, s, s]) for n, s in {"input": 10, "a": 20, "b": 30, "c": 5}.items()}
    b = buffers(model, size_of=lambda layer: sizes[layer.name], copies=copies)
    whole = peak(b, [Candidate(None, tuple(b.sizes))])
    assert whole.bytes.tolist() == [65, 35, 95]
    steps = peak(b, [Candidate("input", ("input",)), *(Candidate(s.layer, s.live) for s in b.steps)])
    assert steps.bytes.tolist() == [50, 35, 50]


def test_an_engine_makes_a_kernel_call_per_copy_of_a_layer_that_does_work():
    """By hand: 100 MACC at 2 cycles each plus 7 cycles per call = 207; a variant without the layer, 0;
    three copies (300 MACC weighed), 600 + 3 x 7 = 621."""
    rates = Rates("e", "b", 100.0, {"conv": 2.0, "depthwise": 2.0, "dense": 2.0}, 7.0)
    model = Model("m", [Layer("x", "conv2d", (), (), (1, 1, 1))])
    assert cycles(rates, {"x": {"forward": 100}}, model) == 207.0
    assert cycles(rates, {"x": {"forward": np.array([100, 0])}}, model).tolist() == [207.0, 0.0]
    weighed = cycles(rates, {"x": {"forward": np.array([100, 0, 300])}}, model, {"x": np.array([1, 0, 3])})
    assert weighed.tolist() == [207.0, 0.0, 621.0]


@pytest.mark.parametrize("body, reads", [
    ([{"name": "c{i}", "kind": "conv2d", "filters": "=width", "inputs": ["d{i}"]}], False),  # names only
    ([{"name": "c", "kind": "conv2d", "filters": "=width * i"}], True),
    ([{"name": "c", "kind": "conv2d", "filters": 8, "kernel": ["=1 + 2 * (i % 2)", 3]}], True),
    ([{"name": "c", "kind": "conv2d", "filters": "=max(width, 2)"}], False),
    ([{"name": "c", "kind": "conv2d", "filters": "=width +"}], True),  # not an expression: resolving says why
])
def test_blocks_are_identical_unless_a_field_reads_the_block_index(body, reads):
    assert P.reads_block_index(body) is reads
