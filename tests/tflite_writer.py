"""Write small TFLite flatbuffers in tests with the ``tflite`` package's generated builders."""

from __future__ import annotations

import flatbuffers
import numpy as np
import tflite

INT8, INT32, FLOAT32 = tflite.TensorType.INT8, tflite.TensorType.INT32, tflite.TensorType.FLOAT32


class TFLiteWriter:
    """Tensors and operators appended in order; ``bytes()`` returns the finished model."""

    def __init__(self):
        self.tensors: list[tuple[str, list[int], int, bytes | None]] = []
        self.ops: list[tuple[int, list[int], list[int], tuple | None]] = []
        self.codes: list[int] = []
        self.signatures: dict[int, list[int]] = {}  # tensor -> shape signature (-1: a dynamic dimension)
        self.quantization: dict[int, tuple[list[float], list[int], int]] = {}  # tensor -> scales, zero points, axis

    def quantize(self, index: int, scales: list[float], zero_points: list[int] | None = None, axis: int = 0) -> int:
        """Give tensor ``index`` affine quantization (per channel along ``axis`` where several scales)."""
        self.quantization[index] = (scales, zero_points or [0] * len(scales), axis)
        return index

    def tensor(self, name: str | None, shape: list[int], dtype: int = INT8, data: bytes | None = None) -> int:
        self.tensors.append((name, shape, dtype, data))
        return len(self.tensors) - 1

    def dynamic(self, index: int, signature: list[int]) -> int:
        """Give tensor ``index`` a shape signature (as a converter writes for a dynamic input)."""
        self.signatures[index] = signature
        return index

    def const(self, name: str | None, shape: list[int], dtype: int = INT8) -> int:
        size = {INT8: 1, INT32: 4, FLOAT32: 4}[dtype] * int(np.prod(shape))
        return self.tensor(name, shape, dtype, bytes(size))

    def int32(self, name: str, values: list[int]) -> int:
        return self.tensor(name, [len(values)] if len(values) != 8 else [4, 2], INT32,
                           np.array(values, dtype=np.int32).tobytes())

    def op(self, code: int, inputs: list[int], outputs: list[int], options: tuple | None = None) -> None:
        if code not in self.codes:
            self.codes.append(code)
        self.ops.append((self.codes.index(code), inputs, outputs, options))

    def bytes(self, inputs: list[int], outputs: list[int]) -> bytes:
        b = flatbuffers.Builder(1024)

        def ivec(start, values):
            start(b, len(values))
            for v in reversed(values):
                b.PrependInt32(v)
            return b.EndVector()

        buffers = []
        for _, _, _, data in [(None, None, None, None)] + self.tensors:  # buffer 0 is empty by convention
            vec = None
            if data:
                tflite.BufferStartDataVector(b, len(data))
                for byte in reversed(data):
                    b.PrependUint8(byte)
                vec = b.EndVector()
            tflite.BufferStart(b)
            if vec is not None:
                tflite.BufferAddData(b, vec)
            buffers.append(tflite.BufferEnd(b))
        tensors = []
        for i, (name, shape, dtype, data) in enumerate(self.tensors):
            n = b.CreateString(name) if name is not None else None  # None: no name field (the schema allows it)
            sh = ivec(tflite.TensorStartShapeVector, shape)
            sig = ivec(tflite.TensorStartShapeSignatureVector, self.signatures[i]) if i in self.signatures else None
            quant = None
            if i in self.quantization:
                scales, zeros, axis = self.quantization[i]
                tflite.QuantizationParametersStartScaleVector(b, len(scales))
                for v in reversed(scales):
                    b.PrependFloat32(v)
                sv_ = b.EndVector()
                tflite.QuantizationParametersStartZeroPointVector(b, len(zeros))
                for v in reversed(zeros):
                    b.PrependInt64(v)
                zv = b.EndVector()
                tflite.QuantizationParametersStart(b)
                tflite.QuantizationParametersAddScale(b, sv_)
                tflite.QuantizationParametersAddZeroPoint(b, zv)
                tflite.QuantizationParametersAddQuantizedDimension(b, axis)
                quant = tflite.QuantizationParametersEnd(b)
            tflite.TensorStart(b)
            if quant is not None:
                tflite.TensorAddQuantization(b, quant)
            if sig is not None:
                tflite.TensorAddShapeSignature(b, sig)
            if n is not None:
                tflite.TensorAddName(b, n)
            tflite.TensorAddShape(b, sh)
            tflite.TensorAddType(b, dtype)
            tflite.TensorAddBuffer(b, i + 1 if data else 0)
            tensors.append(tflite.TensorEnd(b))
        ops = []
        for code_index, ins, outs, options in self.ops:
            iv = ivec(tflite.OperatorStartInputsVector, ins)
            ov = ivec(tflite.OperatorStartOutputsVector, outs)
            opt = options[1](b) if options else None
            tflite.OperatorStart(b)
            tflite.OperatorAddOpcodeIndex(b, code_index)
            tflite.OperatorAddInputs(b, iv)
            tflite.OperatorAddOutputs(b, ov)
            if options:
                tflite.OperatorAddBuiltinOptionsType(b, options[0])
                tflite.OperatorAddBuiltinOptions(b, opt)
            ops.append(tflite.OperatorEnd(b))

        def tvec(start, items):
            start(b, len(items))
            for item in reversed(items):
                b.PrependUOffsetTRelative(item)
            return b.EndVector()

        tv = tvec(tflite.SubGraphStartTensorsVector, tensors)
        opv = tvec(tflite.SubGraphStartOperatorsVector, ops)
        inv = ivec(tflite.SubGraphStartInputsVector, inputs)
        outv = ivec(tflite.SubGraphStartOutputsVector, outputs)
        tflite.SubGraphStart(b)
        tflite.SubGraphAddTensors(b, tv)
        tflite.SubGraphAddOperators(b, opv)
        tflite.SubGraphAddInputs(b, inv)
        tflite.SubGraphAddOutputs(b, outv)
        sg = tflite.SubGraphEnd(b)
        codes = []
        for code in self.codes:
            tflite.OperatorCodeStart(b)
            tflite.OperatorCodeAddBuiltinCode(b, code)
            tflite.OperatorCodeAddDeprecatedBuiltinCode(b, min(code, 127))
            codes.append(tflite.OperatorCodeEnd(b))
        cv = tvec(tflite.ModelStartOperatorCodesVector, codes)
        sv = tvec(tflite.ModelStartSubgraphsVector, [sg])
        bv = tvec(tflite.ModelStartBuffersVector, buffers)
        tflite.ModelStart(b)
        tflite.ModelAddVersion(b, 3)
        tflite.ModelAddOperatorCodes(b, cv)
        tflite.ModelAddSubgraphs(b, sv)
        tflite.ModelAddBuffers(b, bv)
        b.Finish(tflite.ModelEnd(b), file_identifier=b"TFL3")
        return bytes(b.Output())


def conv_options(stride=1, padding=tflite.Padding.SAME, activation=1, depth_multiplier=None):
    def build(b):
        if depth_multiplier is None:
            tflite.Conv2DOptionsStart(b)
            tflite.Conv2DOptionsAddPadding(b, padding)
            tflite.Conv2DOptionsAddStrideH(b, stride)
            tflite.Conv2DOptionsAddStrideW(b, stride)
            tflite.Conv2DOptionsAddFusedActivationFunction(b, activation)
            return tflite.Conv2DOptionsEnd(b)
        tflite.DepthwiseConv2DOptionsStart(b)
        tflite.DepthwiseConv2DOptionsAddPadding(b, padding)
        tflite.DepthwiseConv2DOptionsAddStrideH(b, stride)
        tflite.DepthwiseConv2DOptionsAddStrideW(b, stride)
        tflite.DepthwiseConv2DOptionsAddDepthMultiplier(b, depth_multiplier)
        tflite.DepthwiseConv2DOptionsAddFusedActivationFunction(b, activation)
        return tflite.DepthwiseConv2DOptionsEnd(b)

    kind = tflite.BuiltinOptions.Conv2DOptions if depth_multiplier is None else tflite.BuiltinOptions.DepthwiseConv2DOptions
    return (kind, build)


def pool_options(size, stride):
    def build(b):
        tflite.Pool2DOptionsStart(b)
        tflite.Pool2DOptionsAddPadding(b, tflite.Padding.VALID)
        tflite.Pool2DOptionsAddStrideH(b, stride)
        tflite.Pool2DOptionsAddStrideW(b, stride)
        tflite.Pool2DOptionsAddFilterHeight(b, size)
        tflite.Pool2DOptionsAddFilterWidth(b, size)
        return tflite.Pool2DOptionsEnd(b)

    return (tflite.BuiltinOptions.Pool2DOptions, build)


def small_cnn(extra_op: int | None = None) -> bytes:
    """input 8x8x2 -> conv 3x3x4 s1 same -> pad 1 -> depthwise 3x3 valid -> add(conv, dw) -> max pool 2
    -> reshape 64 -> fully connected 5 -> softmax [-> an extra op]."""
    w = TFLiteWriter()
    B = tflite.BuiltinOperator
    x = w.tensor("x", [1, 8, 8, 2])
    c = w.tensor("conv", [1, 8, 8, 4])
    w.op(B.CONV_2D, [x, w.const("cw", [4, 3, 3, 2]), w.const("cb", [4], INT32)], [c], conv_options())
    p = w.tensor("pad", [1, 10, 10, 4])
    w.op(B.PAD, [c, w.int32("pads", [0, 0, 1, 1, 1, 1, 0, 0])], [p])
    d = w.tensor("dw", [1, 8, 8, 4])
    w.op(B.DEPTHWISE_CONV_2D, [p, w.const("dww", [1, 3, 3, 4]), w.const("dwb", [4], INT32)], [d],
         conv_options(padding=tflite.Padding.VALID, depth_multiplier=1))
    s = w.tensor("sum", [1, 8, 8, 4])
    w.op(B.ADD, [c, d], [s])
    m = w.tensor("pool", [1, 4, 4, 4])
    w.op(B.MAX_POOL_2D, [s], [m], pool_options(2, 2))
    r = w.tensor("flat", [1, 64])
    w.op(B.RESHAPE, [m, w.int32("newshape", [1, 64])], [r])
    f = w.tensor("fc", [1, 5])
    w.op(B.FULLY_CONNECTED, [r, w.const("fw", [5, 64]), w.const("fb", [5], INT32)], [f])
    y = w.tensor("prob", [1, 5])
    w.op(B.SOFTMAX, [f], [y])
    out = y
    if extra_op is not None:
        out = w.tensor("extra", [1, 5])
        w.op(extra_op, [y], [out])
    return w.bytes([x], [out])


def fc_options(activation: int = 0):
    def build(b):
        tflite.FullyConnectedOptionsStart(b)
        tflite.FullyConnectedOptionsAddFusedActivationFunction(b, activation)
        return tflite.FullyConnectedOptionsEnd(b)

    return (tflite.BuiltinOptions.FullyConnectedOptions, build)


def add_options():
    def build(b):
        tflite.AddOptionsStart(b)
        return tflite.AddOptionsEnd(b)

    return (tflite.BuiltinOptions.AddOptions, build)


def concat_options(axis: int = -1):
    def build(b):
        tflite.ConcatenationOptionsStart(b)
        tflite.ConcatenationOptionsAddAxis(b, axis)
        return tflite.ConcatenationOptionsEnd(b)

    return (tflite.BuiltinOptions.ConcatenationOptions, build)


def svdf_options(rank: int, activation: int = 1):
    def build(b):
        tflite.SVDFOptionsStart(b)
        tflite.SVDFOptionsAddRank(b, rank)
        tflite.SVDFOptionsAddFusedActivationFunction(b, activation)
        return tflite.SVDFOptionsEnd(b)

    return (tflite.BuiltinOptions.SVDFOptions, build)


def lstm_options(time_major: bool = False):
    def build(b):
        tflite.UnidirectionalSequenceLSTMOptionsStart(b)
        tflite.UnidirectionalSequenceLSTMOptionsAddFusedActivationFunction(b, 4)  # tanh, the cell's
        tflite.UnidirectionalSequenceLSTMOptionsAddTimeMajor(b, time_major)
        return tflite.UnidirectionalSequenceLSTMOptionsEnd(b)

    return (tflite.BuiltinOptions.UnidirectionalSequenceLSTMOptions, build)


def lrn_options(radius: int, bias: float, alpha: float, beta: float):
    def build(b):
        tflite.LocalResponseNormalizationOptionsStart(b)
        tflite.LocalResponseNormalizationOptionsAddRadius(b, radius)
        tflite.LocalResponseNormalizationOptionsAddBias(b, bias)
        tflite.LocalResponseNormalizationOptionsAddAlpha(b, alpha)
        tflite.LocalResponseNormalizationOptionsAddBeta(b, beta)
        return tflite.LocalResponseNormalizationOptionsEnd(b)

    return tflite.BuiltinOptions.LocalResponseNormalizationOptions, build


def block_options(block: int, to_depth: bool = False):
    """DEPTH_TO_SPACE's or SPACE_TO_DEPTH's block size."""
    prefix = "SpaceToDepthOptions" if to_depth else "DepthToSpaceOptions"

    def build(b):
        getattr(tflite, f"{prefix}Start")(b)
        getattr(tflite, f"{prefix}AddBlockSize")(b, block)
        return getattr(tflite, f"{prefix}End")(b)

    return getattr(tflite.BuiltinOptions, prefix), build


def transpose_conv_options(stride: int, padding=tflite.Padding.SAME):
    def build(b):
        tflite.TransposeConvOptionsStart(b)
        tflite.TransposeConvOptionsAddPadding(b, padding)
        tflite.TransposeConvOptionsAddStrideH(b, stride)
        tflite.TransposeConvOptionsAddStrideW(b, stride)
        return tflite.TransposeConvOptionsEnd(b)

    return tflite.BuiltinOptions.TransposeConvOptions, build
