"""Inference as TFLite Micro plans it (tensorflow/lite/micro/micro_allocation_info.cc,
MarkAllocationLifetimes, restated): every operator's output is a tensor of its own -- a reshape
too, and the quantize/dequantize converters; nothing reads through -- at the element type the file
gives it. The model's input lives from step 0 to its last reader, operator k runs at step k + 1, an
output lives from its operator to its last reader (an unread one during its operator only), and
the model's output to the last step. Lives overlap inclusively: an operator's input and output
always do. Of the kinds learncost models, only the transposed convolution's reference kernel requests a
scratch buffer (kernels/transpose_conv.cc, Prepare: its output's elements x 4 bytes of int32 accumulators
for an int8 input, x 8 of int64 for int16, none for float), live while its operator runs; TFLite Micro
lists scratch buffers after every tensor, so they come last among equals.
"""

from __future__ import annotations

from . import Schedule

#: a transposed convolution's scratch bytes per output element, by its input's type
TRANSPOSED_SCRATCH = {"int8": 4, "int16": 8}


def tflm_inference(model, plan, sizes) -> Schedule:
    s = Schedule()
    layers = model.layers
    last = {layer.name: k for k, layer in enumerate(layers)}  # unread: its own step
    for k, layer in enumerate(layers):
        for src in layer.inputs:
            last[src] = max(last[src], k)
    last[model.output.name] = len(layers) - 1
    for k, layer in enumerate(layers):
        t = s.new(layer.name, "activation", sizes.output(layer), layer.name)
        t.first, t.last = k, last[layer.name]
        per = TRANSPOSED_SCRATCH.get(model.by_name[layer.inputs[0]].dtype) if layer.kind == "conv2d_transpose" else 0
        if per:
            scratch = s.new(f"scratch {layer.name}", "scratch", per * layer.output_elements, layer.name)
            scratch.first = scratch.last = k
        s.sample("input" if k == 0 else f"run {layer.name}")
    return s
