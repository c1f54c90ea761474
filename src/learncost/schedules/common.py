"""What every training schedule shares: the tensors resident for the whole step, and which
buffers a step reads.

Resident in training (``Setup.residency``): a trained weight tensor whole or its trained slice,
frozen parameters when the setup copies them to SRAM, trained biases; optimizer state (momentum:
one value per trained parameter, Adam: two); gradient buffers where gradients accumulate or the
optimizer reads them; PEPITA's F when the setup holds it in RAM. In inference every parameter is
read from flash, as inference engines on MCUs do (and as the paper counts inference RAM).
"""

from __future__ import annotations

from ..ir import any_true
from ..layers import INPUT_DERIVATIVE, RECURRENT_KINDS, transient  # noqa: F401  (the schedules read it from here)
from ..setups import OPTIMIZER_STATE
from . import Schedule

#: activations whose derivative a 1-bit mask can stand for (output in (0, 6) for ReLU6, > 0 for ReLU)
MASKABLE = frozenset({"relu", "relu6"})


def feedback_matrices(model, plan, kind: str | None) -> list[tuple[str, str, int]]:
    """A procedure's fixed random feedback matrices: (name, layer, elements). ``input``: PEPITA's F,
    output x input elements (every input's: the F e each is modulated by); ``weights``: FA's B_l, shaped
    like W_l, wherever an error passes on;
    ``outputs``: DFA's and DRTP's B_l, output x classes, on each trained layer but the logits."""
    if kind == "input":
        return [("F", model.input.name, model.output.output_elements * model.input_elements)]
    if kind == "weights":
        return [(f"B {layer.name}", layer.name, layer.weights) for layer in plan.weight_layers
                if plan.needs_input_error[layer.name]]
    if kind == "outputs":
        classes = model.output.output_elements
        return [(f"B {layer.name}", layer.name, layer.output_elements * classes) for layer in plan.weight_layers
                if plan.trained(layer.name) and layer is not plan.logits]
    return []


def readout_weights(model, plan, sizes) -> list[tuple[str, str, int, object]]:
    """FF's readout W_r (``Plan.readout``): (name, layer, elements, bytes) of its block on each activity it
    reads, classes x the activity's elements, at the weights' precision (the layer's weight type by default)."""
    classes = model.output.output_elements
    return [(f"readout weights {layer.name}", layer.name, classes * layer.output_elements,
             sizes.weights(layer, classes * layer.output_elements)) for layer in plan.readout]


def resident(s: Schedule, model, plan, sizes, *, feedback: str | None = None, gradients: bool = True) -> None:
    """``gradients``: whether the procedure forms gradients a buffer could hold (MeZO's is a scalar)."""
    setup = plan.setup
    frozen_in_sram = setup.residency.frozen == "sram"
    state = OPTIMIZER_STATE[setup.optimizer]
    for layer in plan.weight_layers:
        u = plan.of(layer.name)
        if u.weights and not frozen_in_sram and setup.residency.updated == "slice":
            s.keep(f"weights {layer.name} (trained slice)", "weight", sizes.weights(layer, plan.trained_weights(layer)),
                   layer.name)
        elif u.weights or frozen_in_sram:
            s.keep(f"weights {layer.name}", "weight", sizes.weights(layer), layer.name)
        if any_true(layer.biases > 0) and (u.bias or frozen_in_sram):
            s.keep(f"biases {layer.name}", "bias", sizes.biases(layer), layer.name)
        trained = plan.trained_params(layer)
        if state and (u.weights or u.bias):
            s.keep(f"optimizer state {layer.name}", "optimizer_state", sizes.of(state * trained, "optimizer_state"),
                   layer.name)
        if gradients and setup.gradient_buffers:
            if u.weights:
                s.keep(f"weight gradient {layer.name}", "weight_gradient",
                       sizes.of(plan.trained_weights(layer), "weight_gradient"), layer.name)
            if u.bias:
                s.keep(f"bias gradient {layer.name}", "bias_gradient",
                       sizes.of(plan.trained_biases(layer), "bias_gradient"), layer.name)
    if setup.feedback == "ram":
        for name, layer, elements in feedback_matrices(model, plan, feedback):
            s.keep(name, "feedback", sizes.of(elements, "feedback"), layer)


def training_step(model, plan, sizes, micro_batch, *, feedback: str | None = None) -> Schedule:
    """A training step: the resident tensors, ``micro_batch(s, prefix)`` once per micro-batch of
    ``setup.micro`` samples (steps prefixed ``micro-batch k:`` when there are several), then the
    optimizer's step where gradients were buffered."""
    s = Schedule()
    setup = plan.setup
    resident(s, model, plan, sizes, feedback=feedback)
    for k in range(setup.micro_batches):
        micro_batch(s, f"micro-batch {k + 1}: " if setup.micro_batches > 1 else "")
    if setup.gradient_buffers:
        s.sample("optimizer step")
    return s


def input_slice_elements(layer, plan, sizes):
    """Elements of a layer's input on its trained channels (one sample): what its weight gradient reads."""
    u = plan.of(layer.name)
    src = sizes.owner(layer.inputs[0])
    total = sizes.elements(src)
    if layer.kind == "dense":
        return u.channels
    d = layer.dims
    in_channels = u.channels
    if layer.kind == "depthwise_conv2d":
        per_input = d.C_out // d.C_in  # depth multiplier
        in_channels = -(-u.channels // per_input)
    return total // d.C_in * in_channels


def sliced(layer, plan) -> bool:
    u = plan.of(layer.name)
    return u.weights and u.ratio < 1


def reached_by_backward(layer, plan) -> bool:
    """Backpropagation: an error reaches the layer's output (it is trained, or passes one on)."""
    return plan.output_error[layer.name]


def reached_by_update(layer, plan) -> bool:
    """A direct update (DFA): only trained layers take an error, straight from the output's."""
    return plan.trained(layer.name) and layer in plan.body


def mask_kept(layer, plan, reached=reached_by_backward) -> bool:
    """The derivative of the layer's activation comes from a 1-bit mask saved in the forward pass."""
    return plan.setup.masks and layer.activation in MASKABLE and reached(layer, plan)


def states_kept(layer, plan, reached=reached_by_backward) -> bool:
    """A recurrent cell an error reaches keeps what its backward pass through time reads (``states_elements``)."""
    return layer.kind in RECURRENT_KINDS and reached(layer, plan)


def states_elements(layer) -> int:
    """What a recurrent cell's backward pass reads beyond its input, per sample: an LSTM's i, f, g, o, c_t and
    h_t at every step (6 u T: the cell states and h_{t-1}, which dW_h reads, with the gates); a GRU's r, z, n,
    h_n = W_hn h_{t-1} + b_hn and h_t (5 u T); an SVDF's state after the frame (memory x units rank, which dW_t
    reads)."""
    if layer.kind == "svdf":
        return layer.attr("memory") * layer.attr("units") * layer.attr("rank")
    per_step = 6 if layer.kind == "lstm" else 5
    return per_step * layer.attr("units") * layer.input_shapes[0][0]


def states_bytes(layer, sizes, samples: int = 1):
    """The saved states of ``samples`` samples at the saved tensors' precision, or the layer's activation type where
    the setup keeps the model's."""
    from ..dtypes import dtype_bytes
    from ..sizes import nbytes

    bits = sizes.setup.bits("saved")
    return nbytes(samples * states_elements(layer), 8 * dtype_bytes(layer.dtype) if bits is None else bits)


#: kinds whose backward reads their input (a layer normalization recomputes its statistics from it, a max
#: pool finds each window's maximum again to route the error there, an LRN its window sums)
INPUT_KEEPING = frozenset({"layer_norm", "max_pool2d", "lrn"})
#: kinds whose backward reads their own output (a softmax's dx = y (g - sum(g y)))
OUTPUT_DERIVATIVE = frozenset({"softmax"})


def output_kept(layer, plan, reached=reached_by_backward) -> bool:
    """The backward pass reads the layer's own output: for its activation's derivative, or its kind's."""
    own = bool(layer.activation) and layer.activation not in INPUT_DERIVATIVE or layer.kind in OUTPUT_DERIVATIVE
    return own and reached(layer, plan) and not mask_kept(layer, plan, reached)


def input_kept(layer, plan) -> bool:
    """The backward pass reads the layer's whole input for its weight gradient."""
    u = plan.of(layer.name)
    return u.weights and u.ratio == 1


def kept_inputs(layer, plan, reached=reached_by_backward) -> list[int]:
    """Which of the layer's inputs its backward pass reads (their buffers are kept for it):
    - a trained layer's input for its weight gradient (``input_kept``);
    - a product's other factors, for the error of each input an error must reach;
    - an activation's input where its derivative needs it (``layers.INPUT_DERIVATIVE``), a layer
      normalization's (``INPUT_KEEPING``)."""
    out = [0] if input_kept(layer, plan) else []
    if not reached(layer, plan):
        return out
    if layer.kind == "activation" and layer.activation in INPUT_DERIVATIVE or layer.kind in INPUT_KEEPING:
        out.append(0)
    if layer.kind in ("mul", "matmul") and plan.needs_input_error[layer.name]:
        for i, src in enumerate(layer.inputs):
            if plan.output_error[src]:
                out += [j for j in range(len(layer.inputs)) if j != i]
    return sorted(set(out))


def kept_buffers(layer, plan, sizes, reached=reached_by_backward) -> list[str]:
    """The buffers the layer's backward step reads: its output and the kept inputs' buffers."""
    own = [layer.name] if output_kept(layer, plan, reached) else []
    return own + list(dict.fromkeys(sizes.owner(layer.inputs[i]) for i in kept_inputs(layer, plan, reached)))


def passes_error(layer, i: int) -> bool:
    """The error of input ``i`` is the output's error itself: no new tensor, no work (an add, a
    subtraction's first input, a standalone activation after its derivative, none broadcast)."""
    from ..costs.formulas import broadcast

    return layer.kind in ("add", "sub", "activation") and (layer.kind != "sub" or i == 0) \
        and not any_true(broadcast(layer, i))
