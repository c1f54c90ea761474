"""Backpropagation through time for the recurrent cells (``lstm``, ``gru``, ``svdf``), written out by hand
from the states their forward pass saved (``torch_build.recurrent_forward``), each product and sum one
counted operation as ``costs.formulas`` states it: the gate errors (``lstm_gate_errors``, ...), then
dX = W_x^T dz, dW = sum_t dz_t [x_t, h_{t-1}]^T and the bias vectors' sums over time.

The gate errors serve dX and dW: the reference forms them once, under the operation that books them
(``costs.ops``: dX's where an error passes to the cell's input, else dW's or db's).
"""

from __future__ import annotations

import torch

aten = torch.ops.aten


def gate_errors(layer, cell, states, g):
    """The errors of the gate pre-activations at every step, from the output's error ``g``: an LSTM's dz
    (samples, T, 4u); a GRU's (dz of the input side, dz of the recurrent side), each (samples, T, 3u); an
    SVDF's (dy, da)."""
    if layer.kind == "svdf":
        return _svdf_errors(layer, cell, g)
    units = layer.attr("units")
    features = layer.input_shapes[0][-1]
    wh = cell.weight[:, features:]
    step = _lstm_step if layer.kind == "lstm" else _gru_step
    steps = states.shape[1]
    sequences = layer.attr("return_sequences")
    outs = []
    dh = g[:, -1] if sequences else g
    carry = None  # an LSTM's dc_{t+1} f_{t+1}
    for t in reversed(range(steps)):
        dz, dh, carry = step(states, t, dh, carry, wh, units, g if sequences else None)
        outs.append(dz)
    outs.reverse()
    if layer.kind == "lstm":
        return torch.stack(outs, dim=1)
    return tuple(torch.stack([o[k] for o in outs], dim=1) for k in range(2))


def _lstm_step(states, t, dh, dc_next, wh, u, g):
    """dz_t and, before the first step, dh_{t-1} = W_h^T dz_t + g_{t-1} and dc_{t-1} = dc f."""
    i, f, gg, o, c = (states[:, t, k * u:(k + 1) * u] for k in range(5))
    tc = torch.tanh(c)
    do = aten.sigmoid_backward(dh * tc, o)
    dc = aten.tanh_backward(dh * o, tc)
    if dc_next is not None:
        dc = dc + dc_next
    di = aten.sigmoid_backward(dc * gg, i)
    dg = aten.tanh_backward(dc * i, gg)
    c_prev = states[:, t - 1, 4 * u:5 * u] if t > 0 else torch.zeros_like(c)
    df = aten.sigmoid_backward(dc * c_prev, f)
    dz = torch.cat([di, df, dg, do], dim=1)
    if t == 0:
        return dz, None, None
    initial = g[:, t - 1] if g is not None else torch.zeros_like(dh)
    return dz, torch.addmm(initial, dz, wh), dc * f


def _gru_step(states, t, dh, _, wh, u, g):
    """(dz of the input side, of the recurrent side) at t and, before the first step,
    dh_{t-1} = W_h^T [dr, dz, dh_n] + dh z (+ g_{t-1})."""
    r, z, n, hn = (states[:, t, k * u:(k + 1) * u] for k in range(4))
    h_prev = states[:, t - 1, 4 * u:5 * u] if t > 0 else torch.zeros_like(r)
    dhz = dh * z
    dn = aten.tanh_backward(dh - dhz, n)
    dzg = aten.sigmoid_backward(dh * (h_prev - n), z)
    dr = aten.sigmoid_backward(dn * hn, r)
    dxz = torch.cat([dr, dzg, dn], dim=1)
    dhz_all = torch.cat([dr, dzg, dn * r], dim=1)
    if t == 0:
        return (dxz, dhz_all), None, None
    initial = dhz + g[:, t - 1] if g is not None else dhz
    return (dxz, dhz_all), torch.addmm(initial, dhz_all, wh), None


def _svdf_errors(layer, cell, g):
    """da = dy of each filter's unit times the filter's time weight for the newest frame: one product a filter."""
    rank = layer.attr("rank")
    newest = cell.weight[:, -1]
    return g, g.repeat_interleave(rank, dim=1) * newest


def input_error(layer, cell, errors):
    """dx_t = W_x^T dz_t for every step (an SVDF's dx = W_f^T da)."""
    features = layer.input_shapes[0][-1]
    wx = cell.weight[:, :features]
    dz = errors if layer.kind == "lstm" else errors[0] if layer.kind == "gru" else errors[1]
    return (dz.reshape(-1, dz.shape[-1]) @ wx).reshape(*dz.shape[:-1], features)


def weight_gradient(layer, cell, errors, x, states):
    """dW = sum_t dz_t [x_t, h_{t-1}]^T (an SVDF's [da x^T | dy x state]): one product per part."""
    features = layer.input_shapes[0][-1]
    if layer.kind == "svdf":
        dy, da = errors
        rank = layer.attr("rank")
        per_filter = dy.repeat_interleave(rank, dim=1).t().unsqueeze(1)  # (filters, 1, samples)
        time = torch.bmm(per_filter, states.permute(2, 0, 1))  # (filters, 1, memory)
        return torch.cat([da.t() @ x, time.squeeze(1)], dim=1)
    units = layer.attr("units")
    h = states[..., -units:]
    h_prev = torch.cat([torch.zeros_like(h[:, :1]), h[:, :-1]], dim=1)
    dx_side, dh_side = (errors, errors) if layer.kind == "lstm" else errors
    rows = dx_side.shape[0] * dx_side.shape[1]
    gx = dx_side.reshape(rows, -1).t() @ x.reshape(rows, features)
    gh = dh_side.reshape(rows, -1).t() @ h_prev.reshape(rows, units)
    return torch.cat([gx, gh], dim=1)


def bias_gradient(layer, cell, errors):
    """Each bias vector's gradient: its gate errors summed over samples and time (an SVDF's: dy summed)."""
    if layer.kind == "svdf":
        return errors[0].sum(dim=0)
    sides = (errors, errors) if layer.kind == "lstm" else errors
    vectors = sides[:layer.attr("bias_vectors")]
    return torch.cat([dz.reshape(-1, dz.shape[-1]).sum(dim=0) for dz in vectors])
