"""The MACC formulas, stated in the notation of the paper's sheet (C_in, H_out, H_ker, ...).

Sources: the seed README's method and the formulas of ``analysis.ods`` (cited per formula
by a representative cell). One MACC is one multiply-accumulate on an INT8 element. The
operations the paper does not book (bias gradients, local errors, gradient sums, optimizer
steps, regenerating F) follow the same counting: one MACC per multiply-accumulate, and one per
element-wise add, multiply or divide.
"""

from __future__ import annotations

from ..ir import Dims, Layer, Model, any_true
from .registry import formula, model_formula

CONV = "conv2d"
TCONV = "conv2d_transpose"
DW = "depthwise_conv2d"
DENSE = "dense"
POOLS = ("avg_pool2d", "max_pool2d")
TRAINABLE = (CONV, TCONV, DW, DENSE)

#: MACCs per element the sheet books for the output head, as X-CUBE-AI reports them:
#: INT8<->float converters 2 (cells T18 = 24 and V18 = 24 for 12 classes, AU64/AW64 = 4 for 2,
#: Y110/AA110 = 20 for 10) and the float softmax 15 (U18 = 180, AV64 = 30, Z110 = 150).
CONVERTER_MACC_PER_ELEMENT = 2
SOFTMAX_MACC_PER_ELEMENT = 15


@formula(CONV, "forward")
def conv_forward(d: Dims, layer: Layer) -> int:
    """H_ker * W_ker * C_in * H_out * W_out * C_out  (sheet C18). A grouped convolution's C_in is the
    channels each filter reads (input channels / G, ``ir.Dims``); a dilated one's H_ker, W_ker are
    its taps, not the span they cover."""
    return d.H_ker * d.W_ker * d.C_in * d.H_out * d.W_out * d.C_out


@formula(CONV, "backward")
def conv_backward(d: Dims, layer: Layer) -> int:
    """Error to the input, a transposed convolution: H_ker * W_ker * C_in * H_out * W_out * C_out  (F20)."""
    return d.H_ker * d.W_ker * d.C_in * d.H_out * d.W_out * d.C_out


@formula(CONV, "weight_update")
def conv_weight_update(d: Dims, layer: Layer) -> int:
    """Weight gradient, one MACC per weight per output position:
    H_out * W_out * C_in * H_ker * W_ker * C_out  (C22)."""
    return d.H_out * d.W_out * d.C_in * d.H_ker * d.W_ker * d.C_out


@formula(TCONV, "forward")
def transposed_conv_forward(d: Dims, layer: Layer) -> int:
    """H_ker * W_ker * C_in * H_in * W_in * C_out: each input element scattered onto kernel x C_out outputs, the
    cropped border's included, as runtimes compute them (the forward F18 with input and output exchanged)."""
    return d.H_ker * d.W_ker * d.C_in * d.H_in * d.W_in * d.C_out


@formula(TCONV, "backward")
def transposed_conv_backward(d: Dims, layer: Layer) -> int:
    """Error to the input, a convolution of the output error: H_ker * W_ker * C_in * H_in * W_in * C_out."""
    return d.H_ker * d.W_ker * d.C_in * d.H_in * d.W_in * d.C_out


@formula(TCONV, "weight_update")
def transposed_conv_weight_update(d: Dims, layer: Layer) -> int:
    """Weight gradient, one MACC per weight per input position: H_in * W_in * C_in * H_ker * W_ker * C_out."""
    return d.H_in * d.W_in * d.C_in * d.H_ker * d.W_ker * d.C_out


@formula(DW, "forward")
def depthwise_forward(d: Dims, layer: Layer) -> int:
    """H_ker * W_ker * H_out * W_out * C_out: each output channel sees one input channel  (E18)."""
    return d.H_ker * d.W_ker * d.H_out * d.W_out * d.C_out


@formula(DW, "backward")
def depthwise_backward(d: Dims, layer: Layer) -> int:
    """H_out * W_out * H_ker * W_ker * C_out  (E20)."""
    return d.H_out * d.W_out * d.H_ker * d.W_ker * d.C_out


@formula(DW, "weight_update")
def depthwise_weight_update(d: Dims, layer: Layer) -> int:
    """H_out * W_out * H_ker * W_ker * C_out  (E22)."""
    return d.H_out * d.W_out * d.H_ker * d.W_ker * d.C_out


@formula(DENSE, "forward")
def dense_forward(d: Dims, layer: Layer) -> int:
    """H_in * H_out, with H_in and H_out the input and output activations  (Q18)."""
    return d.H_in * d.H_out


@formula(DENSE, "backward")
def dense_backward(d: Dims, layer: Layer) -> int:
    """H_in * H_out  (Q20)."""
    return d.H_in * d.H_out


@formula(DENSE, "weight_update")
def dense_weight_update(d: Dims, layer: Layer) -> int:
    """H_in * H_out  (C162)."""
    return d.H_in * d.H_out


@formula(TRAINABLE, "goodness")
def goodness(d: Dims, layer: Layer) -> int:
    """FF goodness, the sum of squared activations: H_out * W_out * C_out
    (C24; H_out for a dense layer, Q24)."""
    return d.H_out * d.W_out * d.C_out


@formula(TRAINABLE, "normalization")
def normalization(d: Dims, layer: Layer) -> int:
    """FF length normalization of the activations passed on: H_out * W_out * C_out  (C26, Q26)."""
    return d.H_out * d.W_out * d.C_out


@formula(POOLS, "forward")
def pool_forward(d: Dims, layer: Layer) -> int:
    """H_out * W_out * C_out * H_ker * W_ker; for the global pools of the MLPerf models this is
    H_in * W_in * C_in  (P18, AQ64, U110)."""
    return d.H_out * d.W_out * d.C_out * d.H_ker * d.W_ker


@formula("avg_pool2d", "backward")
def avg_pool_backward(d: Dims, layer: Layer) -> int:
    """Each input receives its window's error over the window size: as the forward  (P20, AQ66, U112)."""
    return d.H_out * d.W_out * d.C_out * d.H_ker * d.W_ker


@formula("max_pool2d", "backward")
def max_pool_backward(d: Dims, layer: Layer) -> int:
    """The error is routed to each window's maximum: H_out * W_out * C_out (not in the sheet)."""
    return d.H_out * d.W_out * d.C_out


@formula("add", "forward")
def add_forward(d: Dims, layer: Layer) -> int:
    """One MACC per output element: H_out * W_out * C_out  (sheet H110 = H95, the add's size)."""
    return layer.output_elements * (len(layer.inputs) - 1)


@formula(("quantize", "dequantize"), "forward")
def converter_forward(d: Dims, layer: Layer) -> int:
    """2 per element, as X-CUBE-AI reports its INT8<->float converters  (T18, V18)."""
    return CONVERTER_MACC_PER_ELEMENT * layer.output_elements


@formula("softmax", "forward")
def softmax_forward(d: Dims, layer: Layer) -> int:
    """15 per element, as X-CUBE-AI reports the float softmax  (U18)."""
    return SOFTMAX_MACC_PER_ELEMENT * layer.output_elements


@formula("softmax", "backward")
def softmax_backward(d: Dims, layer: Layer) -> int:
    """Inside the model (the head is never backpropagated: the error starts at the logits),
    dx = y (g - sum_axis(g y)): the sum of products (one MAC per element), the subtraction and the
    product: 3 * H_out * W_out * C_out (not in the sheet)."""
    return 3 * d.H_out * d.W_out * d.C_out


@formula(TRAINABLE, "bias_gradient")
def bias_gradient(d: Dims, layer: Layer) -> int:
    """db = the output error summed over the output positions: one add per output element,
    H_out * W_out * C_out (not in the sheet, whose weight update counts the weights only)."""
    return d.H_out * d.W_out * d.C_out


@formula(TRAINABLE, "local_error")
def local_error(d: Dims, layer: Layer) -> int:
    """The error a local update reads, one per output element, H_out * W_out * C_out: FF's
    dL/dy = 2 (dL/dG) y, PEPITA's h - h_mod (not in the sheet)."""
    return d.H_out * d.W_out * d.C_out


#: MACC per trained parameter of one optimizer step (the gradient g already computed):
#: sgd: W <- W - eta g (1); sgd-momentum: v <- mu v + g, W <- W - eta v (2);
#: adam (Kingma & Ba 2015, section 2's efficient form, the bias corrections folded into scalars):
#: m <- b1 m + (1 - b1) g (2), v <- b2 v + (1 - b2) g*g (3), d <- sqrt(v) + eps (1, plus a square
#: root, which is not a MACC), W <- W - eta_t m / d (2): 8.
OPTIMIZER_MACC = {"sgd": 1, "sgd-momentum": 2, "adam": 8}
#: square roots per trained parameter and step (Adam's denominator), counted apart from MACC
OPTIMIZER_SQRT = {"sgd": 0, "sgd-momentum": 0, "adam": 1}


@model_formula("error")
def error_gradient(model: Model) -> int:
    """Error at the output, one MACC per output element (classes for a classifier: U28 = 12;
    the reconstruction for the autoencoder: L168 = 640)."""
    return model.output.output_elements


@model_formula("projection")
def projection(model: Model) -> int:
    """PEPITA's projection of the output error onto the input through the fixed matrix F:
    (output elements) x (input elements)  (B30 = Q11*B11*B12, B76, B122, B170). A graph with several
    inputs modulates each: F's columns are every input's elements, summed."""
    return model.output.output_elements * model.input_elements


@model_formula("feedback_generation")
def feedback_generation(model: Model) -> int:
    """F regenerated from a seed at each use instead of stored: one generator step (x <- a x + c,
    one multiply-accumulate) per value, (output elements) x (input elements) per projection."""
    return model.output.output_elements * model.input_elements


# -- the defining work of the procedures beyond the paper (they read the model or the setup's plan) ----

def feedback_projection(d: Dims, classes: int) -> int:
    """A fixed random B_l times a vector of the output's size: B_l e (DFA, Nokland 2016) or B_l y*
    (DRTP, Frenkel et al. 2021), one MACC per output element and class: H_out * W_out * C_out * classes."""
    return d.H_out * d.W_out * d.C_out * classes


def readout_product(d: Dims, classes: int) -> int:
    """FF's linear readout (Hinton 2022, section 3.3) on one hidden activity h_l: the logits' share
    W_r,l h_l, and in training its weight gradient e h_l^T, each one MACC per activity element and
    class: H_out * W_out * C_out * classes."""
    return d.H_out * d.W_out * d.C_out * classes


#: non-linear kinds whose tangent (J t) costs what their backward (J^T g) does: a softmax's J is symmetric,
#: y (t - sum(y t)); a layer normalization's J t = gamma r (t - mean(t) - x_hat mean(t x_hat)), from its input; an
#: LRN's J t = t s^-beta - (2 alpha beta / n) a s^(-beta-1) sum_W(a t), its J^T g's terms in another order
TANGENT_AS_BACKWARD = ("softmax", "layer_norm", "lrn")

#: kinds whose tangent is a selection, not their forward: a max pool passes on the tangent at each
#: window's maximum (found by the forward pass), no MACC
SELECTING_KINDS = ("max_pool2d",)


def tangent(forward: int, tangent_in: bool, weight_tangent: int, bias_elements: int) -> int:
    """The forward gradient's tangent through a layer (Baydin et al. 2022): the layer's own forward on the
    incoming tangent (W t_in, where a tangent arrives: a trained layer lies before it), plus the weight
    direction v_W x (the weight-gradient count on the trained channels; both products accumulate into the
    same outputs, as one product over [t_in, x] and [W, v_W] does), plus v_b (one add per output element
    where the bias is trained). The activation's derivative then selects or scales (not a MACC)."""
    return (forward if tangent_in else 0) + weight_tangent + bias_elements


#: regenerating a random value from a seed: one generator step (x <- a x + c), one MACC
GENERATOR_MACC = 1


# -- kinds beyond the paper's: element-wise operations, reductions ---------------------------------

ELEMENTWISE = ("add", "mul", "sub")


@formula(("mul", "sub"), "forward")
def elementwise_forward(d: Dims, layer: Layer) -> int:
    """One multiply (or subtract) per output element and input after the first, broadcast inputs
    included: H_out * W_out * C_out * (inputs - 1), as the add (sheet H110)."""
    return layer.output_elements * (len(layer.inputs) - 1)


def broadcast(layer: Layer, i: int):
    """Whether input ``i`` was broadcast to the output's shape: a bool, or one per variant of a sweep."""
    src, out = layer.input_shapes[i], layer.output_shape
    if len(src) != len(out):
        return True
    differs = False
    for a, b in zip(src, out):
        differs = differs | (a != b)
    return differs


def elementwise_input_error(layer: Layer, i: int) -> int:
    """The error sent to input ``i`` of an element-wise layer (dL/dy = g over H_out W_out C_out):
    - add, and sub's first input: g itself (0), summed over the broadcast axes where input ``i`` was
      broadcast: one add per output element;
    - sub's second input: -g, a negation (0; summed as above when broadcast);
    - mul: g times the other inputs' product, one multiply-accumulate per output element, the
      broadcast input's sum over its broadcast axes folded into the same multiply-accumulates."""
    if layer.kind == "mul":
        return layer.output_elements * (len(layer.inputs) - 1)
    return layer.output_elements * broadcast(layer, i)


@formula("mean", "forward")
def mean_forward(d: Dims, layer: Layer) -> int:
    """One accumulate per input element (the division folded in, as the average pool's H_in W_in C_in
    for a global pool, sheet P18): H_in * W_in * C_in."""
    return layer.input_elements


@formula("mean", "backward")
def mean_backward(d: Dims, layer: Layer) -> int:
    """Each input element receives its output's error over the count reduced: one multiply per input
    element, H_in * W_in * C_in (as the average pool's backward, P20)."""
    return layer.input_elements


@formula("layer_norm", "forward")
def layer_norm_forward(d: Dims, layer: Layer) -> int:
    """Per row of F features (E elements, E / F rows): the mean (E), x - mean (E), its square (E) and their
    mean (E), var + eps (one per row), x_hat = (x - mean) r with r = 1 / sqrt(var + eps) (E; the root is not a
    MACC), gamma x_hat + beta (2 E where affine): 7 E + E / F (5 E + E / F without gamma and beta)."""
    e, rows = layer.output_elements, layer.output_elements // layer.output_shape[-1]
    return (7 if any_true(layer.weights) else 5) * e + rows


@formula("layer_norm", "backward")
def layer_norm_backward(d: Dims, layer: Layer) -> int:
    """From its kept input: x_hat and r recomputed (5 E + E / F); g' = gamma g (E, where affine);
    dx = r (g' - mean(g') - x_hat mean(g' x_hat)): the two means (2 E), g' x_hat (E), x_hat times its mean (E),
    two subtractions (2 E) and the product by r (E): 13 E + E / F (12 E + E / F without gamma)."""
    e, rows = layer.output_elements, layer.output_elements // layer.output_shape[-1]
    return (13 if any_true(layer.weights) else 12) * e + rows


@formula("matmul", "forward")
def matmul_forward(d: Dims, layer: Layer) -> int:
    """A (..., n, k) B (..., k, m): k multiply-accumulates per output element, (output elements) * k."""
    return layer.output_elements * layer.input_shapes[0][-1]


def matmul_input_error(layer: Layer, i: int) -> int:
    """dA = g B^T and dB = A^T g: each the forward's count, (output elements) * k."""
    return layer.output_elements * layer.input_shapes[0][-1]


#: kinds whose output is linear in each input apart (a product): the tangent is one product per input carrying one
BILINEAR_KINDS = ("matmul",)


#: the input elements a bilinear resize weighs into each output element
BILINEAR_TAPS = 4


@formula("resize", "forward")
def resize_forward(d: Dims, layer: Layer) -> int:
    """A nearest resize copies (0). A bilinear one weighs the 4 input elements around each output position, one
    multiply-accumulate each, as TFLite's kernel computes it (the weights and positions depend on the shapes
    only, constants of the layer): 4 * H_out * W_out * C_out."""
    return BILINEAR_TAPS * d.H_out * d.W_out * d.C_out if layer.attr("method") == "bilinear" else 0


@formula("resize", "backward")
def resize_backward(d: Dims, layer: Layer) -> int:
    """A nearest resize copies each input into a block (no MACC forward); its error sums each block back
    into the input it copies: one add per output element, H_out * W_out * C_out (as db sums its error).
    A bilinear one scatters each output's error to its 4 inputs times their weights, one multiply-accumulate
    each: 4 * H_out * W_out * C_out."""
    taps = BILINEAR_TAPS if layer.attr("method") == "bilinear" else 1
    return taps * d.H_out * d.W_out * d.C_out


#: the backward pass's MACC per input, for kinds whose inputs get different errors: (layer, input
#: index) -> MACC; ``input_errors`` sums it over the inputs an error must reach
INPUT_ERRORS = {kind: elementwise_input_error for kind in ELEMENTWISE} | {"matmul": matmul_input_error}


def input_errors(layer: Layer, needs) -> int:
    """MACC of the errors a multi-input layer sends back: its per-input formula over the inputs
    ``needs(name)`` says an error must reach (0 for kinds with one backward formula)."""
    fn = INPUT_ERRORS.get(layer.kind)
    if fn is None:
        return 0
    return sum(fn(layer, i) for i, src in enumerate(layer.inputs) if needs(src))


# -- recurrent cells, unrolled over time ------------------------------------------------------------
#
# Notation: T time steps of F input features, u units (hidden size), G gates (LSTM 4, GRU 3); each gate
# reads [x_t, h_{t-1}] through its rows of W (G u x (F + u)), the bias the product's initial value (as a
# dense layer's). The initial states h_0 and c_0 are states like the others (TFLite keeps them in variable
# tensors between invocations): every step costs the same, the first included. Element-wise products, sums
# and differences count one MACC per element (as ``mul``/``add``/``sub``); sigmoid and tanh and their
# derivatives count none (as ``activation``). Backward through time splits into the gate errors dz_t
# (``recurrent_gate_errors``: booked with dX where an error passes to the input, else with dW, which needs
# them too), dX = W_x^T dz_t and dW = sum_t dz_t [x_t, h_{t-1}]^T.

RECURRENT = ("lstm", "gru", "svdf")
CELLS = ("lstm", "gru")


def _cell(layer: Layer) -> tuple[int, int, int, int, int]:
    """(T, F, u, G, rs): rs = 1 where every step's h_t leaves the layer (its error joins dh_t at each step)."""
    steps, features = layer.input_shapes[0]
    gates = 4 if layer.kind == "lstm" else 3
    return steps, features, layer.attr("units"), gates, int(bool(layer.attr("return_sequences")))


@formula("lstm", "forward")
def lstm_forward(d: Dims, layer: Layer) -> int:
    """Per step: z_t = W [x_t, h_{t-1}] + b for the 4 gates i, f, g, o: 4 u (F + u); c_t = f * c_{t-1} + i * g
    (two products and a sum, 3 u) and h_t = o * tanh(c_t) (u): T (4 u (F + u) + 4 u)."""
    t, f, u, _, _ = _cell(layer)
    return t * (4 * u * (f + u) + 4 * u)


@formula("gru", "forward")
def gru_forward(d: Dims, layer: Layer) -> int:
    """PyTorch's (and Keras's reset_after) form, per step: W_x x_t + b_x and W_h h_{t-1} + b_h for the gates r,
    z, n: 3 u (F + u); r and z sum their two parts (2 u); n = tanh(x_n + r * h_n) (a product and a sum, 2 u);
    h_t = n + z * (h_{t-1} - n) (a difference, a product and a sum, 3 u): T (3 u (F + u) + 7 u)."""
    t, f, u, _, _ = _cell(layer)
    return t * (3 * u * (f + u) + 7 * u)


def lstm_gate_errors(layer: Layer) -> int:
    """From dh_t (the output's error at step t, plus the error from step t + 1) to dz_t, backwards in time,
    from the saved gates and c_t: do = dh tanh(c_t), dc = dh o, di = dc g, dg = dc i, df = dc c_{t-1} (5 u a
    step); the errors passed on in time, before the first step: dc_{t-1} = dc f (u), added to the next step's
    dc (u), and dh_{t-1} = W_h^T dz_t (4 u u, the output's error at t - 1 its initial value):
    5 u T + (T - 1) (4 u u + 2 u)."""
    t, _, u, _, _ = _cell(layer)
    return 5 * u * t + (t - 1) * (4 * u * u + 2 * u)


def gru_gate_errors(layer: Layer) -> int:
    """From dh_t to dz_t, from the saved r, z, n, h_n = W_hn h_{t-1} + b_hn and h_t: dh z (u), dn = dh - dh z
    (u), dz = dh (h_{t-1} - n) (2 u), dr = dn h_n and dh_n = dn r (2 u): 6 u a step; before the first step
    dh_{t-1} = W_h^T [dr, dz, dh_n] + dh z (3 u u, dh z its initial value), plus the output's error at t - 1
    where every step's output is read (u): 6 u T + (T - 1) (3 u u + rs u)."""
    t, _, u, _, rs = _cell(layer)
    return 6 * u * t + (t - 1) * (3 * u * u + rs * u)


def svdf_gate_errors(layer: Layer) -> int:
    """The error of the frame's activations a = W_f x in the newest state row: dy_unit times its time weight
    for the newest frame, one product per filter: units rank."""
    return layer.attr("units") * layer.attr("rank")


GATE_ERRORS = {"lstm": lstm_gate_errors, "gru": gru_gate_errors, "svdf": svdf_gate_errors}


def recurrent_gate_errors(layer: Layer) -> int:
    """The backward-through-time work both dX and dW need (``GATE_ERRORS``), booked once."""
    return GATE_ERRORS[layer.kind](layer)


@formula(CELLS, "backward")
def cell_backward(d: Dims, layer: Layer) -> int:
    """The gate errors through time (``lstm_gate_errors``, ``gru_gate_errors``), then dx_t = W_x^T dz_t:
    + T G u F."""
    t, f, u, g, _ = _cell(layer)
    return recurrent_gate_errors(layer) + t * g * u * f


@formula(CELLS, "weight_update")
def cell_weight_update(d: Dims, layer: Layer) -> int:
    """dW = sum_t dz_t [x_t, h_{t-1}]^T: one MACC per weight and step, T G u (F + u) (the forward's product)."""
    t, f, u, g, _ = _cell(layer)
    return t * g * u * (f + u)


@formula(CELLS, "bias_gradient")
def cell_bias_gradient(d: Dims, layer: Layer) -> int:
    """Each bias vector's gradient sums its gate errors over time: T G u per vector (PyTorch's two)."""
    t, _, u, g, _ = _cell(layer)
    return t * g * u * layer.attr("bias_vectors")


@formula("svdf", "forward")
def svdf_forward(d: Dims, layer: Layer) -> int:
    """The feature filter on the frame, a = W_f x: units rank F; each unit's output, the bias plus its rank
    filters' time weights times the state's memory frames (the rank sum folded into one product): units
    rank memory. units rank (F + memory)."""
    units, rank, memory = layer.attr("units"), layer.attr("rank"), layer.attr("memory")
    return units * rank * (layer.input_shapes[0][0] + memory)


@formula("svdf", "backward")
def svdf_backward(d: Dims, layer: Layer) -> int:
    """da (``svdf_gate_errors``: units rank), then dx = W_f^T da: units rank F. The frames before in the state
    are earlier invocations' (the gradient is truncated to the frame, as each invocation runs one)."""
    return svdf_gate_errors(layer) * (1 + layer.input_shapes[0][0])


@formula("svdf", "weight_update")
def svdf_weight_update(d: Dims, layer: Layer) -> int:
    """dW_t = dy times the state (units rank memory) and dW_f = da x^T (units rank F): the forward's count."""
    return svdf_forward(d, layer)


# FF's goodness and normalization and a local update's error read the output as a dense layer's do
formula(RECURRENT, "goodness")(goodness)
formula(RECURRENT, "normalization")(normalization)
formula(RECURRENT, "local_error")(local_error)
formula("svdf", "bias_gradient")(bias_gradient)


# -- local response normalization ------------------------------------------------------------------
#
# b_c = a_c s_c^-beta, s_c = k + (alpha / n) sum_{j in W(c)} a_j^2, the window W(c) of n channels around c.
# As for a layer normalization or a softmax, multiplies, adds and divides count one MACC per element and the
# power s^-beta none (like exp and sqrt, it is not a multiply-accumulate); the window sum counts every one of
# its n taps, the zeros beyond the edge channels included, as a padded average pool counts its kernel.


@formula("lrn", "forward")
def lrn_forward(d: Dims, layer: Layer) -> int:
    """a^2 (E), the window sums (n E), s = k + (alpha / n) sum (one multiply-accumulate, E), s^-beta (not a MACC)
    and a s^-beta (E): (n + 3) E, E = H_out W_out C_out, n the window."""
    return (layer.attr("size") + 3) * layer.output_elements


@formula("lrn", "backward")
def lrn_backward(d: Dims, layer: Layer) -> int:
    """From the kept input a: s recomputed ((n + 2) E); dx_j = g_j s_j^-beta - (2 alpha beta / n) a_j
    sum_{i in W(j)} g_i a_i s_i^(-beta-1), each error reaching the n outputs whose window holds a_j: g s^-beta (E),
    g a s^(-beta-1) (2 E; the powers are not MACC), its window sums (n E), times a_j (E) and the subtraction
    scaled by 2 alpha beta / n (one multiply-accumulate, E): (2 n + 7) E."""
    return (2 * layer.attr("size") + 7) * layer.output_elements


# -- batch normalization left unfolded: y = gamma' x + beta' per channel, the frozen statistics folded in ----------


@formula("batch_norm", "forward")
def batch_norm_forward(d: Dims, layer: Layer) -> int:
    """A multiply and an add per element, as ``mul`` and ``add`` count them (and a layer normalization's gamma x_hat
    + beta): 2 * H_out * W_out * C_out; E without the shift."""
    return (2 if any_true(layer.biases) else 1) * layer.output_elements


@formula("batch_norm", "backward")
def batch_norm_backward(d: Dims, layer: Layer) -> int:
    """dx = gamma' g: one multiply per element, H_out * W_out * C_out (the statistics are constants)."""
    return layer.output_elements


@formula("batch_norm", "weight_update")
def batch_norm_weight_update(d: Dims, layer: Layer) -> int:
    """dgamma'_c = sum over positions of g x: one multiply-accumulate per element of the kept input,
    H_out * W_out * C_out (dbeta' is ``bias_gradient``: the error summed, one add per element)."""
    return layer.output_elements


formula("batch_norm", "goodness")(goodness)
formula("batch_norm", "normalization")(normalization)
formula("batch_norm", "local_error")(local_error)
formula("batch_norm", "bias_gradient")(bias_gradient)


# -- embedding lookup: T indices into a vocab x dim table ----------------------------------------------------


@formula("embedding", "weight_update")
def embedding_weight_update(d: Dims, layer: Layer) -> int:
    """The rows touched: each of the T output rows' errors added into the table row its index selects (an index
    read twice accumulates twice), one add per output element, T * dim. The lookup itself is no MACC (forward 0)
    and integer indices take no error (no dX)."""
    return layer.output_elements


formula("embedding", "goodness")(goodness)
formula("embedding", "normalization")(normalization)
formula("embedding", "local_error")(local_error)
