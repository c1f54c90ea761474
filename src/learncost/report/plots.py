"""Figures (matplotlib, loaded here only): the paper's comparison of procedures and a model's
per-layer breakdown, with the chosen boards' SRAM for scale. Figures only draw what analysis
computed.

Readable at the saved size: every text at least ``MIN_FONT`` points, pages at most ``MAX_WIDTH``
inches wide (A4 landscape), each figure sized from what it draws (layers, steps, models), tick
labels thinned where they would overlap, text kept as text in SVG and PDF."""

from __future__ import annotations

import math
import textwrap

from ..analysis import Analysis
from ..costs import OPERATIONS
from ..printable import printable

#: beyond this, the per-layer panel says how many layers there are instead of drawing them (a bar
#: per layer and operation for 10,000 layers takes minutes to lay out and cannot be read)
MAX_DRAWN_LAYERS = 300

#: the smallest text drawn, in points; the widest figure, in inches (within A4 landscape, 842 pt)
MIN_FONT = 8
MAX_WIDTH = 11.4  # with the 0.1 in saved around a tight figure: 835 pt
MAX_HEIGHT = 11.7
#: longest tick label (layer or step name), in characters, before it is shortened with an ellipsis
MAX_LABEL = 24

#: sizes in points (none below MIN_FONT) and the resolution of a saved PNG
STYLE = {"font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9, "xtick.labelsize": 8, "ytick.labelsize": 8,
         "legend.fontsize": 8, "legend.title_fontsize": 8, "figure.titlesize": 11, "figure.dpi": 150,
         "hatch.linewidth": 0.6}

#: behind a label drawn over bars or points
LABEL_BOX = {"boxstyle": "square,pad=0.1", "facecolor": "white", "edgecolor": "none", "alpha": 0.8}
#: per-layer bars: one hatch per procedure (colour is the operation)
HATCHES = ("", "///", "...", "xx", "\\\\\\", "++", "oo", "--", "||", "**")
#: colours of the operations a figure draws, in OPERATIONS order (tab10, then tab20's light shades)
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#c7c7c7",
           "#dbdb8d", "#9edae5", "#393b79", "#637939")
#: what each operation is, where its name alone does not say it
OPERATION_LABELS = {"backward": "backward (dX)", "weight_update": "weight update (dW)",
                    "bias_gradient": "bias gradient (db)"}


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        # names come from the user's files: "$" in a layer name must not start mathtext (whose parse
        # errors surface only when the figure is saved)
        matplotlib.rcParams["text.parse_math"] = False
        # text stays text: SVG <text> elements, PDF with embedded TrueType fonts (selectable, searchable)
        matplotlib.rcParams["svg.fonttype"] = "none"
        matplotlib.rcParams["pdf.fonttype"] = 42
        matplotlib.rcParams["ps.fonttype"] = 42
        import matplotlib.pyplot as plt
    except ImportError:
        from ..errors import LearncostError

        raise LearncostError("plots need matplotlib, which is not installed",
                             hint="pip install 'learncost[reports]'", code="LC-DEPENDENCY") from None
    return plt


def _style():
    import matplotlib

    return matplotlib.rc_context(STYLE)


def _clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


def _short(name: object, limit: int = MAX_LABEL) -> str:
    s = printable(name)
    return s if len(s) <= limit else s[:limit - 1] + "\u2026"


def _wrap(text: str, width_in: float, size: float) -> str:
    """``text`` broken into lines that fit ``width_in`` inches at ``size`` points (never shrunk)."""
    chars = max(20, int(width_in * 72 / (0.58 * size)))
    return "\n".join(textwrap.wrap(text, chars)) or text


def _operation_label(op: str) -> str:
    return OPERATION_LABELS.get(op, op.replace("_", " "))


def _ticks(ax, positions, labels, width_in: float, fontsize: float = MIN_FONT):
    """Labels at ``positions`` rotated upright; every k-th only when all would overlap on ``width_in``
    inches of axis (a rotated label needs about 1.3 line heights)."""
    n = len(labels)
    capacity = max(1, int(width_in * 72 / (1.3 * fontsize)))
    step = max(1, math.ceil(n / capacity))
    keep = list(range(0, n, step))
    ax.set_xticks([positions[k] for k in keep], [labels[k] for k in keep], rotation=90, fontsize=fontsize)
    return step


def _bars(ax, labels, train, infer, title, ylabel, width_in: float):
    labels = [_short(s, 20) for s in labels]
    x = range(len(labels))
    ax.bar([i - 0.2 for i in x], train, 0.4, label="training")
    ax.bar([i + 0.2 for i in x], infer, 0.4, label="inference")
    # upright while the names fit side by side, at an angle beyond
    fits = max((len(s) for s in labels), default=0) * 0.6 * MIN_FONT + 8 <= width_in * 72 / max(len(labels), 1)
    ax.set_xticks(list(x), labels, rotation=0 if fits else 30, ha="center" if fits else "right",
                  rotation_mode="anchor", fontsize=MIN_FONT)
    ax.set_title(title)
    ax.set_ylabel(ylabel)


def _colours(ops) -> dict[str, str]:
    drawn = [op for op in OPERATIONS if op in ops] + sorted(set(ops) - set(OPERATIONS))
    return {op: PALETTE[n % len(PALETTE)] for n, op in enumerate(drawn)}


def _bar_pt(width_in: float, layers: int, procs: int) -> float:
    """How wide one bar of a layer's group is, in points, on ``width_in`` inches of axis."""
    return width_in * 72 / max(layers, 1) * 0.8 / max(procs, 1)


def _hatched(bar_pt: float) -> bool:
    """Hatches only where they can be seen (and cost nothing to render where they cannot)."""
    return bar_pt >= 2.5


def _sram_groups(mcus, span: float, length_pt: float) -> list[tuple[float, str]]:
    """Each board's SRAM (KB) with its label; boards whose lines would sit closer than a line of text
    (on an axis ``length_pt`` points long spanning ``span`` KB) share one label, at the lowest of them."""
    boards = sorted(((m.sram_kb, _short(m.id, 32)) for m in mcus if m.sram_kb), key=lambda b: b[0])
    groups: list[list] = []
    for kb, name in boards:
        if groups and (kb - groups[-1][-1][0]) / max(span, 1e-9) * length_pt < 1.4 * MIN_FONT:
            groups[-1].append((kb, name))
        else:
            groups.append([(kb, name)])
    out = []
    for g in groups:
        names = [n for _, n in g]
        label = ", ".join(names) if len(names) <= 2 else f"{names[0]} and {len(names) - 1} more boards"
        out.append((g[0][0], f"{label} SRAM"))
    return out


def _stacked(ax, procs, layers, splits, scale: float, colours: dict[str, str], width_in: float) -> set[str]:
    """One bar per procedure within each layer's group, stacked by operation (``splits``: procedure ->
    layer -> operation -> value, divided by ``scale``), hatched by procedure. Returns the operations drawn."""
    width = 0.8 / max(len(procs), 1)
    bar_pt = _bar_pt(width_in, len(layers), len(procs))
    edge = 0.3 if bar_pt >= 4 else 0.0  # narrow bars: no outline to hide the colour
    hatched = _hatched(bar_pt)
    drawn: set[str] = set()
    for k, p in enumerate(procs):
        bottom = [0.0] * len(layers)
        for op, colour in colours.items():
            values = [splits[p].get(name, {}).get(op, 0) / scale for name in layers]
            if any(values):
                ax.bar([j + k * width for j in range(len(layers))], values, width, bottom=bottom,
                       color=colour, hatch=HATCHES[k % len(HATCHES)] if hatched else None, edgecolor="#262626",
                       linewidth=edge)
                drawn.add(op)
                bottom = [b + v for b, v in zip(bottom, values)]
    ax.set_xlim(-0.6, len(layers) - 0.2)
    return drawn


def _per_layer_legend(ax, procs, colours, drawn, hatched: bool):
    """Which colour is which operation and which hatch is which procedure, in ``ax`` (an axes of its own
    beside the per-layer panels): the operations at the top, the procedures at the bottom."""
    from matplotlib.patches import Patch

    ax.axis("off")
    ops = [Patch(facecolor=colours[op], edgecolor="#262626", linewidth=0.3, label=_operation_label(op))
           for op in colours if op in drawn]
    bars = [Patch(facecolor="white", edgecolor="#262626", linewidth=0.6, hatch=HATCHES[k % len(HATCHES)],
                  label=_short(p, 32)) for k, p in enumerate(procs)] if hatched else \
        [Patch(visible=False, label=f"{k + 1}. {_short(p, 32)}") for k, p in enumerate(procs)]
    gap = Patch(visible=False, label=" ")
    header = Patch(visible=False, label="hatch: procedure\n(bars left to right)" if hatched else
                   "procedure: bars left to right\n(too narrow to hatch)")
    ax.legend(handles=[*ops, gap, header, *bars], title="colour: operation", loc="upper left", borderaxespad=0,
              alignment="left", handlelength=2.4, handleheight=1.3)


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def analysis_figure(a: Analysis):
    """MACC and RAM per procedure (SRAM of each board as a line), the per-layer MACC of every procedure's
    training step stacked by operation, and, on the first board something times, its training milliseconds
    per layer and operation under the board's engine."""
    plt = _pyplot()
    procs = list(dict.fromkeys(r.procedure for r in a.rows))
    timed = next((m for m in a.mcus if a.rates.get(m.id)), None)
    splits = {p: a.breakdown(p, "training") for p in procs}
    layers = [layer.name for layer in a.model.layers if any(layer.name in split for split in splits.values())]
    panels = [(splits, 1e6, "million MACC", "training MACC per layer, by operation")]
    if timed:
        engine = a.rates[timed.id].engine
        panels.append(({p: a.latency_breakdown(p, "training", timed.id) for p in procs}, 1.0, "ms",
                       f"training ms per sample per layer on {_short(timed.id, 32)} (engine {engine}), by operation"))
    draw = len(layers) <= MAX_DRAWN_LAYERS
    names = [_short(n) for n in layers]
    colours = _colours({op for s in splits.values() for ops in s.values() for op in ops})
    legend_in = 1.9  # the legend's column beside the per-layer panels
    # about 0.1 in per bar of a layer's group; the summary panels need ~7.5 in side by side
    width = _clamp(3.0 + legend_in + len(layers) * (0.1 * len(procs) + 0.08), 7.5, MAX_WIDTH) if draw else 7.5
    axis_in = width - legend_in - 0.9  # less the y labels
    label_in = (max((len(n) for n in names), default=4) * 0.6 * MIN_FONT + 8) / 72 if draw else 0.3
    # the legend's two boxes, in inches: a row per operation and per procedure, their titles
    needed = 0.25 * (len(colours) + len(procs) + 4)
    panel_in = max(2.6, needed / len(panels))
    height = _clamp(0.5 + 2.9 + panel_in * len(panels) + label_in, 5.0, MAX_HEIGHT)
    with _style():
        fig = plt.figure(figsize=(width, height), layout="constrained")
        side = (width - legend_in) / 2
        grid = fig.add_gridspec(1 + len(panels), 3, width_ratios=[side, side, legend_in],
                                height_ratios=[2.9] + [panel_in] * (len(panels) - 1) + [panel_in + label_in])
        axes = [fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[0, 1:])]
        for r in range(len(panels)):
            axes.append(fig.add_subplot(grid[1 + r, :2], sharex=axes[2] if r else None))
        t = {p: a.row(p, "training") for p in procs}
        i = {p: a.row(p, "inference") for p in procs}
        _bars(axes[0], procs, [t[p].macc / 1e6 for p in procs], [i[p].macc / 1e6 for p in procs],
              "MACC per sample", "million MACC", side - 0.8)
        _bars(axes[1], procs, [t[p].ram_bytes / 1024 for p in procs], [i[p].ram_bytes / 1024 for p in procs],
              "RAM per sample", "KB (1024 B)", side - 0.8)
        for mcu in a.mcus:
            if mcu.sram_kb:
                axes[1].axhline(mcu.sram_kb, linestyle="--", linewidth=1, color="grey")
        low, high = axes[1].get_ylim()
        for kb, label in _sram_groups(a.mcus, high - low, 2.2 * 72):
            axes[1].annotate(label, (0.99, kb), xycoords=("axes fraction", "data"), ha="right",
                             va="top" if kb > low + 0.9 * (high - low) else "bottom",
                             fontsize=MIN_FONT, bbox=LABEL_BOX)
        axes[0].legend()
        drawn: set[str] = set()
        for ax, (values, scale, unit, title) in zip(axes[2:], panels):
            ax.set_title(_wrap(title, axis_in + 0.9, STYLE["axes.titlesize"]))
            if not draw:
                ax.text(0.5, 0.5, f"{len(layers):,} layers: too many to draw a bar each\n(--per-layer lists them all)",
                        ha="center", va="center", transform=ax.transAxes)
                ax.set_xticks([])
                continue
            drawn |= _stacked(ax, procs, layers, values, scale, colours, axis_in)
            ax.set_ylim(bottom=0)
            ax.set_ylabel(unit)
        if draw:
            centres = [j + 0.4 - 0.4 / max(len(procs), 1) for j in range(len(layers))]
            step = _ticks(axes[-1], centres, names, axis_in)
            for ax in axes[2:-1]:
                ax.tick_params(labelbottom=False)
            axes[-1].set_xlabel("layer" + (f" (every {_ordinal(step)} named)" if step > 1 else ""))
            _per_layer_legend(fig.add_subplot(grid[1:, 2]), procs, colours, drawn,
                              _hatched(_bar_pt(axis_in, len(layers), len(procs))))
        fig.suptitle(_wrap(f"{printable(a.model.name)}: what on-device learning costs (setup {a.setup.key}, "
                           f"{a.evaluator.accounting} memory)", width, STYLE["figure.titlesize"]))
    return fig


def paper_figure(result):
    """The paper's comparison: training and inference MACC and RAM of each procedure, per model."""
    plt = _pyplot()
    models = list(result.analyses)
    width = _clamp(1.0 + 2.7 * len(models), 5.0, MAX_WIDTH)
    panel_in = (width - 1.0) / max(len(models), 1) - 0.5
    with _style():
        fig, axes = plt.subplots(2, len(models), figsize=(width, 5.6), squeeze=False, layout="constrained")
        for col, model_id in enumerate(models):
            a = result.analyses[model_id]
            procs = list(dict.fromkeys(r.procedure for r in a.rows))
            t = {p: a.row(p, "training") for p in procs}
            i = {p: a.row(p, "inference") for p in procs}
            _bars(axes[0][col], procs, [t[p].macc / 1e6 for p in procs], [i[p].macc / 1e6 for p in procs],
                  f"{_short(a.model.name)}: MACC", "million MACC" if col == 0 else "", panel_in)
            _bars(axes[1][col], procs, [t[p].ram_bytes / 1e3 for p in procs], [i[p].ram_bytes / 1e3 for p in procs],
                  f"{_short(a.model.name)}: RAM", "KB (1000 B, as the paper)" if col == 0 else "", panel_in)
        axes[0][0].legend()
        fig.suptitle("Per sample: training and inference of each procedure (the paper's setup)")
    return fig


#: per procedure in a sweep: marker, line style, and marker size (decreasing: the later, smaller one on top)
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
LINESTYLES = ("-", "--", ":", "-.", (0, (5, 1, 1, 1)), (0, (1, 2)), (0, (6, 2)), (0, (3, 1, 1, 1, 1, 1)))


def _marker(k: int) -> tuple[str, object, float]:
    return MARKERS[k % len(MARKERS)], LINESTYLES[k % len(LINESTYLES)], max(3.0, 9.0 - 1.8 * k)


def sweep_figure(s):
    """Every possible variant as a point (training RAM, forward MACC), one colour, marker and line style per
    procedure, its Pareto front as a line (fronts that coincide drawn one over the other, the later with
    smaller markers, and said so) and each board's SRAM as a vertical line; beside it, the training
    time per sample on the first board whose cycles/MACC is known."""
    plt = _pyplot()
    import numpy as np
    from matplotlib.lines import Line2D

    timed = next((m for m in s.mcus if m.cycles_per_macc is not None), None)
    width = MAX_WIDTH if timed else 7.0
    valid = s.valid
    with _style():
        fig, axes = plt.subplots(1, 2 if timed else 1, figsize=(width, 5.2), squeeze=False, layout="constrained")
        ax = axes[0][0]
        fronts: dict[str, tuple] = {}
        same: dict[str, str] = {}  # procedure -> the earlier procedure whose front it repeats
        handles = []
        for k, proc in enumerate(s.procedures):
            marker, style, size = _marker(k)
            colour = f"C{k % 10}"
            ram = s.ram[(proc.id, "training")]
            ax.scatter(ram[valid] / 1024, s.forward_macc[valid] / 1e6, s=6, alpha=0.3, color=colour,
                       marker=marker, linewidths=0, zorder=1)
            front = s.pareto(proc.id)
            xy = (ram[front], s.forward_macc[front])
            for other, oxy in fronts.items():
                if len(oxy[0]) == len(xy[0]) and np.array_equal(oxy[0], xy[0]) and np.array_equal(oxy[1], xy[1]):
                    same[proc.id] = other
                    break
            fronts[proc.id] = xy
            ax.step(xy[0] / 1024, xy[1] / 1e6, where="post", color=colour, linestyle=style, linewidth=1.6,
                    zorder=2 + k)
            ax.plot(xy[0] / 1024, xy[1] / 1e6, linestyle="none", marker=marker, markersize=size,
                    markerfacecolor="none" if k == 0 else "white", markeredgecolor=colour, markeredgewidth=1.2,
                    zorder=2 + k)
            label = _short(proc.id, 32) + (f" (front = {_short(same[proc.id], 32)}'s)" if proc.id in same else "")
            handles.append(Line2D([], [], color=colour, linestyle=style, marker=marker, markersize=size,
                                  markerfacecolor="none" if k == 0 else "white", markeredgewidth=1.2, label=label))
        for mcu in s.mcus:
            if mcu.sram_kb:
                ax.axvline(mcu.sram_kb, linestyle="--", linewidth=1, color="grey", zorder=0)
        left, right = ax.get_xlim()
        for kb, label in _sram_groups(s.mcus, right - left, (width / len(axes[0]) - 1.0) * 72):
            ax.annotate(label, (kb, 0.98), xycoords=("data", "axes fraction"), rotation=90, va="top", ha="right",
                        fontsize=MIN_FONT, bbox=LABEL_BOX)
        ax.set_xlabel("training RAM, KB (1024 B)")
        ax.set_ylabel("forward MACC (million): the model's size")
        ax.set_title("variants (dots) and Pareto front per procedure")
        title = "Pareto front"
        if same:
            pairs = "; ".join(f"{_short(p, 32)}'s = {_short(q, 32)}'s" for p, q in same.items())
            title += f"\n(the same front: {pairs},\ndrawn over it with smaller markers)"
        ax.legend(handles=handles, title=title, loc="lower right")
        if timed:
            ax = axes[0][1]
            handles = []
            for k, proc in enumerate(s.procedures):
                marker, _, size = _marker(k)
                colour = f"C{k % 10}"
                ms = s.latency_ms(proc.id, "training", timed)
                ax.plot(s.ram[(proc.id, "training")][valid] / 1024, ms[valid], linestyle="none", marker=marker,
                        markersize=size * 0.8, markerfacecolor="none", markeredgecolor=colour,
                        markeredgewidth=1.0, alpha=0.8, zorder=2 + k)
                handles.append(Line2D([], [], linestyle="none", marker=marker, markersize=size * 0.8,
                                      markerfacecolor="none", markeredgecolor=colour, label=_short(proc.id, 32)))
            ax.set_xlabel("training RAM, KB (1024 B)")
            ax.set_ylabel(f"training ms per sample on {_short(timed.id, 32)}")
            ax.set_title("training time against memory")
            ax.legend(handles=handles, title="procedure", loc="upper left")
        setup = s.setup.key if s.setup else "paper"
        fig.suptitle(_wrap(f"{printable(s.model)}: {int(valid.sum()):,} variants (setup {setup}, {s.memory} memory)",
                           width, STYLE["figure.titlesize"]))
    return fig


ROLE_COLOURS = {"activation": "C0", "saved": "C1", "mask": "C2", "error": "C3", "weight_gradient": "C4",
                "bias_gradient": "C5", "optimizer_state": "C6", "feedback": "C7", "scratch": "C8"}


def memory_figure(m):
    """The arena as blocks over steps: each tensor a rectangle from its first to its last step, at its
    offset, coloured by role; the live peak's step marked."""
    plt = _pyplot()
    from matplotlib.patches import Rectangle

    layout, schedule = m.layout, m.schedule
    steps = len(schedule.steps)
    names = [_short(s, 28) for s in schedule.steps]
    width = _clamp(4.5 + steps * 0.14, 7.5, MAX_WIDTH)
    axis_in = width - 3.0  # less the y label and the legend beside the axes
    label_in = (max((len(n) for n in names), default=4) * 0.6 * MIN_FONT + 8) / 72
    with _style():
        fig, ax = plt.subplots(figsize=(width, _clamp(4.8 + label_in, 5.0, MAX_HEIGHT)), layout="constrained")
        seen: set[str] = set()
        for p in layout.placements:
            t = p.tensor
            colour = ROLE_COLOURS.get(t.role, "C9")
            ax.add_patch(Rectangle((t.first - 0.45, p.offset / 1024), t.last - t.first + 0.9, p.size / 1024,
                                   facecolor=colour, edgecolor="black", linewidth=0.3, alpha=0.85,
                                   label=None if t.role in seen else t.role.replace("_", " ")))
            seen.add(t.role)
        ax.axvline(layout.live_at, color="red", linestyle="--", linewidth=1,
                   label=f"live peak {layout.live_peak / 1024:,.1f} KB")
        ax.axhline(layout.arena / 1024, color="black", linewidth=1, label=f"arena {layout.arena / 1024:,.1f} KB")
        ax.set_xlim(-1, steps)
        ax.set_ylim(0, max(layout.arena, 1) / 1024 * 1.05)
        ax.set_ylabel("offset in the arena, KB (1024 B)")
        step = _ticks(ax, list(range(steps)), names, axis_in)
        ax.set_xlabel("step" + (f" (every {_ordinal(step)} named)" if step > 1 else ""))
        ax.legend(title="tensor role", loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
        ax.set_title(_wrap(f"{printable(m.model_label)}: {m.procedure} {m.phase}, setup {m.setup.key}; resident "
                           f"beside the arena {layout.persistent_bytes / 1024:,.1f} KB", width - 0.5,
                           STYLE["axes.titlesize"]))
    return fig
