"""Each layer's cost of each operation under a training setup: the registered formulas, gated and
scaled by what the setup trains (``setups.plan.Plan``) and by its MACC convention.

- backward (dX): only where an error must pass on to the layer's input (a trained layer before it);
- weight_update (dW): the formula on the trained channels only (C_in of a conv, the channels of a
  depthwise conv, the input features of a dense layer replaced by their trained count);
- bias_gradient: where the bias is trained; local_error: on every trained layer (the procedure
  picks which read one); gradient_sum: where several readers send an error back;
- optimizer: trained parameters x the optimizer's MACC per parameter (one application);
  gradient_accumulation: trained parameters (one micro-batch added in);
- feedback_generation: where the setup regenerates a procedure's feedback matrix instead of storing
  it: PEPITA's F (output x input elements, at the input), FA's B_l (shaped like W_l, where an error
  passes on), DFA's and DRTP's B_l (output x classes, on each trained layer but the last);
- error_projection, target_projection (DFA, DRTP): B_l e and B_l y* on each trained layer;
- recompute (checkpointed BP): the forward of each layer recomputed in the backward pass;
- readout, readout_gradient (FF with a readout): W_r,l h_l and e h_l^T on each layer the readout reads,
  readout_step and readout_accumulation: the optimizer and the gradient buffer on its weights;
- tangent (forward gradient): the tangent through each layer; perturbation and random_generation
  (MeZO, the forward gradient):
  one per trained parameter per use; gradient_estimate (MeZO, the forward gradient, under an
  optimizer that reads the gradient): one per trained parameter.

The ``paper`` convention books what the sheet books (X-CUBE-AI's 2 and 15 MACC per element for
the converters and the float softmax, normalization of every trainable output) and nothing the
sheet leaves out; ``executed`` books what an implementation executes (no MACC in converters and
softmax, normalization only of outputs a later trainable layer reads, every extra operation).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Mapping

from ..ir import Dims, Layer, Model
from ..layers import HEAD_KINDS, INPUT_CHANNEL_KINDS, transient
from .formulas import (BILINEAR_KINDS, GENERATOR_MACC, OPTIMIZER_MACC, RECURRENT, SELECTING_KINDS,
                       TANGENT_AS_BACKWARD, feedback_projection, recurrent_gate_errors,
                       input_errors, readout_product, tangent)
from .registry import OPERATIONS, PAPER_LIKE, XCUBEAI, formula_for, model_formula_for

#: per (layer name, operation): either dims to substitute or the operation whose formula to use.
#: Only the paper's errata use these, to reproduce the sheet exactly.
Overrides = Mapping[tuple[str, str], Mapping[str, object]]



def _formula(layer: Layer, op: str, overrides: Overrides, channels=None) -> int:
    patch = overrides.get((layer.name, op), {})
    fn = formula_for(layer.kind, str(patch.get("formula", op)))
    if fn is None:
        return 0
    dims = layer.dims
    if patch.get("dims"):
        dims = replace(dims, **patch["dims"])  # type: ignore[arg-type]
    if channels is not None:
        dims = _trained_dims(layer, dims, channels)
    return fn(dims, layer)


def _trained_dims(layer: Layer, dims: Dims, channels) -> Dims:
    if layer.kind in INPUT_CHANNEL_KINDS:
        return replace(dims, C_in=channels)
    if layer.kind == "depthwise_conv2d":
        return replace(dims, C_out=channels)
    return replace(dims, H_in=channels)


def layer_costs(model: Model, plan, *, convention: str | None = None, overrides: Overrides | None = None,
                feedback: str | None = "input", passes_errors: bool = True) -> list[dict[str, int]]:
    """MACC of every operation for every layer, in execution order: one pass of one sample for
    per-sample operations, one application for per-step ones (``optimizer``, ``gradient_accumulation``).
    How many times each counts is the procedure's business (``evaluate``); ``feedback`` is the shape of
    the procedure's feedback matrix (``Procedure.feedback``), which sizes its regeneration; ``passes_errors``
    False: the procedure computes no dX, so a recurrent cell's gate errors are booked with its update."""
    overrides = overrides or {}
    setup = plan.setup
    convention = convention or setup.convention
    paper = convention in PAPER_LIKE
    per_param = OPTIMIZER_MACC[setup.optimizer]
    out = []
    for layer in model.layers:
        name = layer.name
        u = plan.of(name)
        c = dict.fromkeys(OPERATIONS, 0)
        c["forward"] = _formula(layer, "forward", overrides)
        if not paper and layer.kind in HEAD_KINDS:
            c["forward"] = 0  # a converter or a float softmax executes no multiply-accumulate
        if convention == XCUBEAI and c["forward"]:
            c["forward"] += layer.biases  # X-CUBE-AI's printed macc: one per bias (registry.XCUBEAI)
        if plan.needs_input_error[name] and plan.output_error[name]:
            c["backward"] = _formula(layer, "backward", overrides) + input_errors(layer, plan.output_error.__getitem__)
        if u.weights:
            c["weight_update"] = _formula(layer, "weight_update", overrides, None if u.ratio == 1 else u.channels)
        # a recurrent cell's gate errors through time serve dX and dW: booked with dX, or where no error passes
        # to its input, with dW (the weights trained) or db
        gate_errors = layer.kind in RECURRENT and not (c["backward"] and passes_errors) and (u.weights or u.bias)
        if gate_errors and u.weights:
            c["weight_update"] += recurrent_gate_errors(layer)
        if layer.has_weights:
            c["goodness"] = _formula(layer, "goodness", overrides)
            if paper or plan.feeds_weights[name]:
                c["normalization"] = _formula(layer, "normalization", overrides)
        if layer is model.output:
            c["error"] = model_formula_for("error")(model)
        if layer is model.input:
            c["projection"] = model_formula_for("projection")(model)
        classes = model.output.output_elements
        d = layer.dims
        if (u.weights or u.bias) and layer is not plan.logits:
            c["error_projection"] = c["target_projection"] = feedback_projection(d, classes)
        if name in plan.recomputed:
            c["recompute"] = c["forward"]
        readout = name in plan.readout_inputs
        if readout:
            c["readout"] = c["readout_gradient"] = readout_product(d, classes)
        if plan.output_error[name]:  # the tangent runs where an error would: from the first trained layer to the logits
            through = 0 if layer.kind in SELECTING_KINDS else \
                _formula(layer, "backward", overrides) if layer.kind in TANGENT_AS_BACKWARD else c["forward"]
            if layer.kind in BILINEAR_KINDS:  # d(AB) = dA B + A dB: a product for each input a tangent reaches
                through = c["forward"] * sum(bool(plan.output_error[src]) for src in layer.inputs)
            c["tangent"] = tangent(through, plan.needs_input_error[name],
                                   c["weight_update"] if u.weights else 0,
                                   layer.output_elements if u.bias else 0)
        if u.weights or u.bias:
            trained = plan.trained_params(layer)
            c["perturbation"] = trained
            c["random_generation"] = GENERATOR_MACC * trained
        out.append(c)
        if paper:  # the sheet books nothing else
            continue
        if u.bias:
            c["bias_gradient"] = _formula(layer, "bias_gradient", overrides)
            if gate_errors and not u.weights:
                c["bias_gradient"] += recurrent_gate_errors(layer)
        if u.weights or u.bias:
            c["local_error"] = _formula(layer, "local_error", overrides)
            trained = plan.trained_params(layer)
            c["optimizer"] = trained * per_param
            c["gradient_accumulation"] = trained
            if per_param > 1:  # theta - (eta s) z is SGD's one MACC; other optimizers read g = s z first
                c["gradient_estimate"] = trained
        if readout:  # the readout's weights on this activity: trained, as every layer's, by the setup's optimizer
            c["readout_step"] = per_param * c["readout_gradient"]
            c["readout_accumulation"] = c["readout_gradient"]
        if plan.output_error[name] and not transient(layer):
            senders = error_senders(model, plan, name)
            if len(senders) > 1:
                c["gradient_sum"] = layer.output_elements * (len(senders) - 1)
        if setup.feedback == "regenerated":
            c["feedback_generation"] = _feedback_values(model, plan, layer, feedback)
    return out


def error_senders(model: Model, plan, name: str) -> list[str]:
    """The layers sending an error back to ``name``'s buffer: its readers, and those reading it through a
    reshape or a padding (their errors are summed in the buffer they read through)."""
    out = []
    for r in model.consumers[name]:
        if transient(model.by_name[r]):
            out += error_senders(model, plan, r)
        elif plan.output_error[r] and plan.needs_input_error[r]:
            out.append(r)
    return out


def _feedback_values(model: Model, plan, layer: Layer, feedback: str | None) -> int:
    """Values of the procedure's feedback matrix on this layer, regenerated once per sample."""
    u = plan.of(layer.name)
    if feedback == "input":
        return model_formula_for("feedback_generation")(model) if layer is model.input else 0
    if feedback == "weights":  # FA: B_l in place of W_l wherever an error passes on
        return layer.weights if layer.has_weights and plan.needs_input_error[layer.name] else 0
    if feedback == "outputs" and (u.weights or u.bias) and layer is not plan.logits:
        return feedback_projection(layer.dims, model.output.output_elements)
    return 0
