"""TensorFlow Lite Micro's persistent tail: what its interpreter keeps for good at the end of the
arena, beside the planned head (the tensors ``planners.greedy`` places).

Restated from tflite-micro @ 90b983c2 (micro_allocator.cc, micro_interpreter.cc,
micro_interpreter_graph.cc, arena_allocator/single_arena_buffer_allocator.cc, the reference kernels'
Init and Prepare, flatbuffer_conversions.cc): the tail grows down from the arena's end, each
allocation rounded down to its alignment (``tail = align_down(tail - size, alignment)``), in this order:

0. the allocator objects (the arena allocator, the GreedyMemoryPlanner, the MicroAllocator);
1. the builtin-data allocator; one SubgraphAllocations per subgraph; per subgraph a TfLiteEvalTensor
   per tensor (weights included) and a NodeAndRegistration per operator;
2. every operator's builtin parameters (``AllocatePOD``: the struct's size and alignment);
3. every operator's Init: its OpData, aligned to 16;
4. every operator's Prepare: a convolution's per-channel multiplier and shift (4 B per output channel
   each, for every dtype), a fully connected layer's where its INT8/INT16 weights have per-channel
   scales, an INT16 softmax's two lookup tables of 513 entries;
5. scratch-buffer handles (INT4 weights), variable tensors' buffers (aligned to 16);
6. the input and output TfLiteTensor pointer arrays (aligned to 16), each input's and output's
   TfLiteTensor, and its quantization (the struct and a zero-point array) where it is quantized.

Sizes depend on the target. ``cortex-m``: a 32-bit Cortex-M with GCC (short enums, its default), the
plain MicroInterpreter, no compression. ``host``: the ``tflite-micro`` Python interpreter on x86-64
(RecordingMicroAllocator, compression built in), whose recorded tail the tests compare with. The sizes
were measured by compiling the snapshot's headers for each target (sizeof/alignof) and, for the wheel's
newer FullyConnectedParams, read from its binary. The tail does not include the temporary memory
``AllocateTensors`` uses in the head while it plans, which can exceed a small head (an arena of head +
tail can still be too small for a tiny model).
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: operator -> the key its persistent allocations are listed under
OPERATOR_KEYS = {
    "CONV_2D": "CONV_2D", "DEPTHWISE_CONV_2D": "DEPTHWISE_CONV_2D", "FULLY_CONNECTED": "FULLY_CONNECTED",
    "AVERAGE_POOL_2D": "POOL", "MAX_POOL_2D": "POOL", "SOFTMAX": "SOFTMAX", "ADD": "ADD", "RESHAPE": "RESHAPE",
    "QUANTIZE": "QUANTIZE", "DEQUANTIZE": "DEQUANTIZE", "PAD": "PAD", "PADV2": "PAD",
    "CONCATENATION": "CONCATENATION", "RESIZE_NEAREST_NEIGHBOR": "RESIZE_NEAREST",
}
#: LUTSize<int16_t>() in softmax_common.cc: an INT16 softmax's lookup tables
SOFTMAX_INT16_LUT = 513


@dataclass(frozen=True)
class Operator:
    key: str  # OPERATOR_KEYS value
    channels: int = 0  # a convolution's output channels (its per-channel arrays)
    fc_channels: int = 0  # a fully connected layer's per-channel scales, where INT8/INT16 input and > 1
    int16_softmax: bool = False
    int4_weights: bool = False


@dataclass(frozen=True)
class Graph:
    """What TFLite Micro's tail depends on, read from a .tflite file."""

    subgraphs: tuple[tuple[int, int], ...]  # (tensors, operators) of each subgraph
    operators: tuple[Operator, ...]  # of every subgraph, in order
    variables: tuple[int, ...] = ()  # bytes of each variable tensor
    inputs: tuple[int, ...] = ()  # each input of subgraph 0: its quantization's channel count, 0 if none
    outputs: tuple[int, ...] = ()
    unknown: tuple[str, ...] = field(default=())  # operators whose allocations are not listed here


def _sizes(pointer: int, short_enums: bool, compression: bool, recording: bool, wheel: bool) -> dict:
    """(size, alignment) of each allocation on a target, as measured for tflite-micro @ 90b983c2."""
    wide = pointer == 8
    s: dict = {
        "arena_allocator": ((104, 8) if recording else (72, 8)) if wide else ((52, 4) if recording else (36, 4)),
        "planner": (72, 8) if wide else (44, 4),
        "micro_allocator": ((272 if compression else 248, 8) if recording else (72, 8)) if wide else
                           ((136 if compression else 124, 4) if recording else (36, 4)),
        "builtin_allocator": (16, 8) if wide else (8, 4),
        "subgraph": ((24 if compression else 16), 8) if wide else ((12 if compression else 8), 4),
        "eval_tensor": (24, 8) if wide else (12, 4),
        "node": (64, 8) if wide else (32, 4),
        "scratch_handle": (8, 8) if wide else (4, 4),
        "tensor": (64, 8) if wide else ((32, 4) if short_enums else (40, 4)),
        "quantization": (24, 8) if wide else (12, 4),
        "pointer": pointer,
    }
    conv = (80 if compression else 72) if wide else (64 if compression else 56)
    fc = (72 if compression else 64) if wide else (56 if compression else 48)
    s["opdata"] = {"CONV_2D": conv, "DEPTHWISE_CONV_2D": conv, "FULLY_CONNECTED": fc, "POOL": 32,
                   "SOFTMAX": 80 if wide else 56, "ADD": 60, "QUANTIZE": 32, "DEQUANTIZE": 32, "PAD": 56,
                   "CONCATENATION": (80 if compression else 40) if wide else (64 if compression else 24)}
    narrow = short_enums and not wide
    s["params"] = {"CONV_2D": (28, 4), "DEPTHWISE_CONV_2D": (28, 4),
                   "FULLY_CONNECTED": (32, 8) if wheel else ((5, 1) if narrow else (16, 4)),
                   "POOL": (40, 4), "SOFTMAX": (4, 4), "ADD": (2, 1) if narrow else (8, 4), "RESHAPE": (36, 4),
                   "CONCATENATION": (8, 4),
                   # TfLiteResizeNearestNeighborParams: two bools (align_corners, half_pixel_centers); no Init
                   "RESIZE_NEAREST": (2, 1)}
    return s


TARGETS = {
    "cortex-m": _sizes(4, short_enums=True, compression=False, recording=False, wheel=False),
    "host": _sizes(8, short_enums=False, compression=True, recording=True, wheel=True),
}


def tail(graph: Graph, target: str = "cortex-m") -> int | None:
    """Bytes of TFLite Micro's persistent tail for ``graph`` (None where an operator is not listed)."""
    if graph.unknown:
        return None
    s = TARGETS[target]
    end = used = 1 << 24  # any 16-aligned end: only the distance moved matters

    def alloc(size: int, alignment: int) -> None:
        nonlocal used
        used = (used - size) // alignment * alignment

    for name in ("arena_allocator", "planner", "micro_allocator", "builtin_allocator"):
        alloc(*s[name])
    size, alignment = s["subgraph"]
    alloc(size * len(graph.subgraphs), alignment)
    for tensors, _ in graph.subgraphs:
        alloc(s["eval_tensor"][0] * tensors, s["eval_tensor"][1])
    for _, operators in graph.subgraphs:
        alloc(s["node"][0] * operators, s["node"][1])
    for op in graph.operators:
        if op.key in s["params"]:
            alloc(*s["params"][op.key])
    for op in graph.operators:
        if op.key in s["opdata"]:
            alloc(s["opdata"][op.key], 16)
    scratch = 0
    for op in graph.operators:
        if op.key in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            alloc(4 * op.channels, 16)
            alloc(4 * op.channels, 16)
        elif op.key == "FULLY_CONNECTED" and op.fc_channels:
            alloc(4 * op.fc_channels, 16)
            alloc(4 * op.fc_channels, 16)
        elif op.key == "SOFTMAX" and op.int16_softmax:
            alloc(2 * SOFTMAX_INT16_LUT, 16)
            alloc(2 * SOFTMAX_INT16_LUT, 16)
        scratch += op.int4_weights
    if scratch:
        alloc(s["scratch_handle"][0] * scratch, s["scratch_handle"][1])
    for nbytes in graph.variables:
        alloc(nbytes, 16)
    for tensors in (graph.inputs, graph.outputs):
        alloc(s["pointer"] * len(tensors), 16)
        for channels in tensors:
            alloc(*s["tensor"])
            if channels:
                alloc(*s["quantization"])
                alloc(4 + 4 * channels, 4)
    return end - used
