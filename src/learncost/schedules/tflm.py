"""Inference as TFLite Micro plans it (tensorflow/lite/micro/micro_allocation_info.cc,
MarkAllocationLifetimes, restated): every operator's output is a tensor of its own -- a reshape
too, and the quantize/dequantize converters; nothing reads through -- at the element type the file
gives it. The model's inputs live from step 0 to their last reader, operator k runs at step k + 1, an
output lives from its operator to its last reader (an unread one during its operator only), and
the model's output to the last step. Lives overlap inclusively: an operator's input and output
always do. Of the kinds learncost models, only the transposed convolution's reference kernel requests a
scratch buffer (kernels/transpose_conv.cc, Prepare: its output's elements x 4 bytes of int32 accumulators
for an int8 input, x 8 of int64 for int16, none for float), live while its operator runs; TFLite Micro
lists scratch buffers after every tensor, so they come last among equals.
"""

from __future__ import annotations

from ..layers import FLASH_KINDS
from . import Schedule

#: a transposed convolution's scratch bytes per output element, by its input's type
TRANSPOSED_SCRATCH = {"int8": 4, "int16": 8}


def tflm_inference(model, plan, sizes) -> Schedule:
    s = Schedule()
    n = len(model.inputs)
    # every input at step 0, operator j (of the layers that compute) at step j + 1; a constant is no operator
    planned = [layer for layer in model.layers if layer.kind not in FLASH_KINDS]
    step = {layer.name: max(0, k - n + 1) for k, layer in enumerate(planned)}
    last = dict(step)  # unread: its own step
    for layer in planned:
        for src in layer.inputs:
            if src in last:
                last[src] = max(last[src], step[layer.name])
    last[model.output.name] = step[model.output.name]
    s.sample("input" if n == 1 else "inputs")
    for layer in planned:
        t = s.new(layer.name, "activation", sizes.output(layer), layer.name)
        t.first, t.last = step[layer.name], last[layer.name]
        per = TRANSPOSED_SCRATCH.get(model.by_name[layer.inputs[0]].dtype) if layer.kind == "conv2d_transpose" else 0
        if per:
            scratch = s.new(f"scratch {layer.name}", "scratch", per * layer.output_elements, layer.name)
            scratch.first = scratch.last = step[layer.name]
        if step[layer.name]:
            s.sample(f"run {layer.name}")
    return s
