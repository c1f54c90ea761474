"""Inference as TFLite Micro plans it (tensorflow/lite/micro/micro_allocation_info.cc,
MarkAllocationLifetimes, restated): every operator's output is a tensor of its own -- a reshape
too, and the quantize/dequantize converters; nothing reads through -- at the element type the file
gives it. The model's input lives from step 0 to its last reader, operator k runs at step k + 1, an
output lives from its operator to its last reader (an unread one during its operator only), and
the model's output to the last step. Lives overlap inclusively: an operator's input and output
always do. The reference kernels TFLite Micro's Python interpreter runs request no scratch buffer
for any layer kind learncost models (only INT4 weights, TRANSPOSE_CONV, MEAN and a few others would).
"""

from __future__ import annotations

from . import Schedule


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
        s.sample("input" if k == 0 else f"run {layer.name}")
    return s
