"""Forward-Forward's training step under a setup (and FF with a one-pass readout's, below), replayed in
the order ``verify/reference.py``'s ``ff_training`` executes it: the sample (with its label) is kept for the second pass; in each pass
every layer runs on the normalized output of the one before, and each trained layer then forms
the error of its local loss (dL/dy, one value per output element) beside its input and output,
from which its gradients are computed and applied (or buffered). No backward pass."""

from __future__ import annotations

from ..errors import LearncostError
from ..setups import OPTIMIZER_STATE
from . import Schedule, builder
from .common import readout_weights, training_step
from .inference import inputs, walk


def _passes(s: Schedule, model, plan, sizes, prefix: str, x, m: int) -> None:
    """The positive and the negative pass, the sample ``x`` (every input's buffer) kept through both."""
    for sign in ("positive", "negative"):
        def local(layer):
            if plan.trained(layer.name):
                e = s.new(f"local error {layer.name}", "error", sizes.of(m * layer.output_elements, "error"),
                          layer.name)
                s.sample(f"{prefix}{sign} local error {layer.name}")
                s.free(e)

        held = walk(s, model, sizes, plan.body, f"{prefix}{sign}", dict(x), keep=frozenset(x), samples=m, after=local)
        for own, t in held.items():
            if own not in x:
                s.free(t)


@builder("ff", "training")
def ff_training(model, plan, sizes) -> Schedule:
    m = plan.setup.micro

    def micro_batch(s: Schedule, prefix: str) -> None:
        x = inputs(s, model, sizes, m)
        _passes(s, model, plan, sizes, prefix, x, m)
        for t in x.values():
            s.free(t)

    return training_step(model, plan, sizes, micro_batch)


# -- Forward-Forward with a one-pass readout (Hinton 2022, section 3.3) ------------------------------

def _readout_resident(s: Schedule, model, plan, sizes) -> None:
    """The readout's weights (trained: in RAM), its optimizer state and its gradient buffer."""
    setup = plan.setup
    state = OPTIMIZER_STATE[setup.optimizer]
    for name, layer, n, nbytes in readout_weights(model, plan, sizes):
        s.keep(name, "weight", nbytes, layer)
        if state:
            s.keep(f"readout optimizer state {layer}", "optimizer_state", sizes.of(state * n, "optimizer_state"), layer)
        if setup.gradient_buffers:
            s.keep(f"readout gradient {layer}", "weight_gradient", sizes.of(n, "weight_gradient"), layer)


def require_readout(model, plan) -> None:
    if not plan.readout:
        raise LearncostError(f"model {model.name!r} has no layer with weights: FF's readout reads the activities of "
                             "such layers", hint="choose another procedure (learncost procedures lists them)",
                             code="LC-PROCEDURE-MODEL")


def _neutral_pass(s: Schedule, model, plan, sizes, tag: str, x, m: int, *, keep_input: bool, saved: bool) -> tuple:
    """The pass with the neutral label: the readout's logits, created at the first activity it reads and
    accumulated at each; ``saved``: the activities it reads are kept (training: its gradient reads them)."""
    require_readout(model, plan)
    readout = plan.readout_inputs
    logits = {}

    def accumulate(layer):
        if layer.name in readout and not logits:
            logits["t"] = s.new("readout logits", "activation", sizes.activation(plan.logits.name, samples=m),
                                layer.name)

    keep = frozenset(x if keep_input else ()) | (readout if saved else frozenset())
    held = walk(s, model, sizes, plan.body, tag, dict(x), keep=keep, samples=m,
                role=lambda own: "saved" if saved and own in readout else "activation", after=accumulate)
    return held, logits["t"]


@builder("ff-readout", "training")
def ff_readout_training(model, plan, sizes) -> Schedule:
    """FF's two passes, then the neutral pass keeping the activities the readout reads; the error at the
    readout's logits; each activity's readout gradient (applied or buffered), after which it goes."""
    m = plan.setup.micro

    def micro_batch(s: Schedule, prefix: str) -> None:
        x = inputs(s, model, sizes, m)
        _passes(s, model, plan, sizes, prefix, x, m)
        held, logits = _neutral_pass(s, model, plan, sizes, f"{prefix}neutral", x, m,
                                     keep_input=not model.supervised, saved=True)
        for own in [own for own in held if own not in plan.readout_inputs]:
            s.free(held.pop(own))  # the pass's own last buffers, and an autoencoder's sample (read by the error)
        e = s.new("readout error", "error", sizes.of(m * model.output.output_elements, "error"), model.output.name)
        s.free(logits)
        s.sample(f"{prefix}readout error")
        for layer in plan.readout:
            s.sample(f"{prefix}readout update {layer.name}")
            s.free(held.pop(layer.name))
        s.free(e)

    s = training_step(model, plan, sizes, micro_batch)
    _readout_resident(s, model, plan, sizes)
    return s


@builder("ff-readout", "inference")
def ff_readout_inference(model, plan, sizes) -> Schedule:
    """One neutral pass, the readout's logits accumulated as it runs; an autoencoder keeps its sample
    for the reconstruction's error. The readout's weights are read from flash."""
    s = Schedule()
    x = inputs(s, model, sizes)
    held, logits = _neutral_pass(s, model, plan, sizes, "neutral", x, 1, keep_input=not model.supervised,
                                 saved=False)
    for own in [own for own in held if own not in x]:
        s.free(held.pop(own))
    if not model.supervised:
        e = s.new("reconstruction error", "error", sizes.of(model.output.output_elements, "error"), model.output.name)
        s.free(logits)
        for own in [own for own in held if own in x]:
            s.free(held.pop(own))
        s.sample("reconstruction error")
        s.free(e)
    else:
        s.free(logits)
    return s
