"""Figures (matplotlib, loaded here only): the paper's comparison of procedures and a model's
per-layer breakdown, with the chosen boards' SRAM for scale. Figures only draw what analysis
computed."""

from __future__ import annotations

from ..analysis import Analysis
from ..costs import OPERATIONS
from ..printable import printable

#: beyond this, the per-layer panel says how many layers there are instead of drawing them (a bar
#: per layer and operation for 10,000 layers takes minutes to lay out and cannot be read)
MAX_DRAWN_LAYERS = 300


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        # names come from the user's files: "$" in a layer name must not start mathtext (whose parse
        # errors surface only when the figure is saved)
        matplotlib.rcParams["text.parse_math"] = False
        import matplotlib.pyplot as plt
    except ImportError:
        from ..errors import LearncostError

        raise LearncostError("plots need matplotlib, which is not installed",
                             hint="pip install 'learncost[reports]'", code="LC-DEPENDENCY") from None
    return plt


def _bars(ax, labels, train, infer, title, ylabel):
    x = range(len(labels))
    ax.bar([i - 0.2 for i in x], train, 0.4, label="training")
    ax.bar([i + 0.2 for i in x], infer, 0.4, label="inference")
    ax.set_xticks(list(x), labels)
    ax.set_title(title)
    ax.set_ylabel(ylabel)


def _stacked(ax, procs, layers, splits, scale: float):
    """One bar per procedure within each layer's group, stacked by operation (``splits``: procedure ->
    layer -> operation -> value, divided by ``scale``)."""
    width = 0.8 / max(len(procs), 1)
    colours = {op: f"C{n}" for n, op in enumerate(OPERATIONS)}
    labelled: set[str] = set()
    for k, p in enumerate(procs):
        bottom = [0.0] * len(layers)
        for op in OPERATIONS:
            values = [splits[p].get(name, {}).get(op, 0) / scale for name in layers]
            if any(values):
                ax.bar([j + k * width for j in range(len(layers))], values, width, bottom=bottom,
                       color=colours[op], label=None if op in labelled else op)
                labelled.add(op)
                bottom = [b + v for b, v in zip(bottom, values)]
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(layers))], [printable(n) for n in layers], rotation=90,
                  fontsize=6)
    ax.set_xlabel("bars per layer: " + ", ".join(procs), fontsize=7)
    ax.legend(fontsize=6)


def analysis_figure(a: Analysis):
    """MACC and RAM per procedure (SRAM of each board as a line), the per-layer MACC of every procedure's
    training step stacked by operation, and, on the first board something times, its training milliseconds
    per layer and operation under the board's engine."""
    plt = _pyplot()
    procs = list(dict.fromkeys(r.procedure for r in a.rows))
    timed = next((m for m in a.mcus if a.rates.get(m.id)), None)
    fig, grid = plt.subplots(2, 2, figsize=(15, 9.5)) if timed else plt.subplots(1, 3, figsize=(17, 4.8))
    axes = list(grid.flat)
    t = {p: a.row(p, "training") for p in procs}
    i = {p: a.row(p, "inference") for p in procs}
    _bars(axes[0], procs, [t[p].macc / 1e6 for p in procs], [i[p].macc / 1e6 for p in procs],
          "MACC per sample", "million MACC")
    _bars(axes[1], procs, [t[p].ram_bytes / 1024 for p in procs], [i[p].ram_bytes / 1024 for p in procs],
          "RAM per sample", "KB (1024 B)")
    for mcu in a.mcus:
        if mcu.sram_kb:
            axes[1].axhline(mcu.sram_kb, linestyle="--", linewidth=1)
            axes[1].annotate(f"{mcu.id} SRAM", (len(procs) - 0.5, mcu.sram_kb), ha="right", va="bottom", fontsize=7)
    axes[0].legend()
    splits = {p: a.breakdown(p, "training") for p in procs}
    layers = [layer.name for layer in a.model.layers if any(layer.name in split for split in splits.values())]
    axes[2].set_title("training MACC per layer, by operation")
    panels = [(axes[2], splits, 1e6, "million MACC")]
    if timed:
        engine = a.rates[timed.id].engine
        axes[3].set_title(f"training ms per sample per layer on {timed.id} (engine {engine}), by operation")
        panels.append((axes[3], {p: a.latency_breakdown(p, "training", timed.id) for p in procs}, 1.0, "ms"))
    for ax, values, scale, unit in panels:
        if len(layers) > MAX_DRAWN_LAYERS:
            ax.text(0.5, 0.5, f"{len(layers):,} layers: too many to draw a bar each\n(--per-layer lists them all)",
                    ha="center", va="center", transform=ax.transAxes)
            continue
        _stacked(ax, procs, layers, values, scale)
        ax.set_ylabel(unit)
    fig.suptitle(f"{printable(a.model.name)}: what on-device learning costs (setup {a.setup.key}, "
                 f"{a.evaluator.accounting} memory)")
    fig.tight_layout()
    return fig


def paper_figure(result):
    """The paper's comparison: training and inference MACC and RAM of each procedure, per model."""
    plt = _pyplot()
    models = list(result.analyses)
    fig, axes = plt.subplots(2, len(models), figsize=(4.2 * len(models), 7))
    for col, model_id in enumerate(models):
        a = result.analyses[model_id]
        procs = list(dict.fromkeys(r.procedure for r in a.rows))
        t = {p: a.row(p, "training") for p in procs}
        i = {p: a.row(p, "inference") for p in procs}
        _bars(axes[0][col], procs, [t[p].macc / 1e6 for p in procs], [i[p].macc / 1e6 for p in procs],
              f"{printable(a.model.name)}: MACC", "million MACC")
        _bars(axes[1][col], procs, [t[p].ram_bytes / 1e3 for p in procs], [i[p].ram_bytes / 1e3 for p in procs],
              f"{printable(a.model.name)}: RAM", "KB (1000 B, as the paper)")
    axes[0][0].legend()
    fig.tight_layout()
    return fig


MARKERS = ("o", "x", "^", "+")


def sweep_figure(s):
    """Every possible variant as a point (training RAM, forward MACC), one colour per procedure,
    its Pareto front as a line and each board's SRAM as a vertical line; beside it, the training
    time per sample on the first board whose cycles/MACC is known."""
    plt = _pyplot()
    timed = next((m for m in s.mcus if m.cycles_per_macc is not None), None)
    fig, axes = plt.subplots(1, 2 if timed else 1, figsize=(13 if timed else 7, 5), squeeze=False)
    ax = axes[0][0]
    valid = s.valid
    for k, proc in enumerate(s.procedures):
        ram = s.ram[(proc.id, "training")]
        ax.scatter(ram[valid] / 1024, s.forward_macc[valid] / 1e6, s=10, alpha=0.35, color=f"C{k}", label=proc.id,
                   marker=MARKERS[k % len(MARKERS)])  # BP and PEPITA share a memory rule: their points coincide
        front = s.pareto(proc.id)
        ax.step(ram[front] / 1024, s.forward_macc[front] / 1e6, where="post", color=f"C{k}", linewidth=1.5)
    for mcu in s.mcus:
        if mcu.sram_kb:
            ax.axvline(mcu.sram_kb, linestyle="--", linewidth=1, color="grey")
            ax.annotate(f"{mcu.id} SRAM", (mcu.sram_kb, ax.get_ylim()[1]), rotation=90, va="top", ha="right", fontsize=7)
    ax.set_xlabel("training RAM, KB (1024 B)")
    ax.set_ylabel("forward MACC (million): the model's size")
    ax.set_title("variants and Pareto front per procedure")
    ax.legend(fontsize=7)
    if timed:
        ax = axes[0][1]
        for k, proc in enumerate(s.procedures):
            ms = s.latency_ms(proc.id, "training", timed)
            ax.scatter(s.ram[(proc.id, "training")][valid] / 1024, ms[valid], s=10, alpha=0.35, color=f"C{k}",
                       label=proc.id, marker=MARKERS[k % len(MARKERS)])
        ax.set_xlabel("training RAM, KB (1024 B)")
        ax.set_ylabel(f"training ms per sample on {timed.id}")
        ax.set_title("training time against memory")
        ax.legend(fontsize=7)
    setup = s.setup.key if s.setup else "paper"
    fig.suptitle(f"{s.model}: {int(valid.sum()):,} variants (setup {setup}, {s.memory} memory)")
    fig.tight_layout()
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
    fig, ax = plt.subplots(figsize=(min(16, 6 + steps / 25), 6))
    seen: set[str] = set()
    for p in layout.placements:
        t = p.tensor
        colour = ROLE_COLOURS.get(t.role, "C9")
        ax.add_patch(Rectangle((t.first - 0.45, p.offset / 1024), t.last - t.first + 0.9, p.size / 1024,
                               facecolor=colour, edgecolor="black", linewidth=0.3, alpha=0.85,
                               label=None if t.role in seen else t.role))
        seen.add(t.role)
    ax.axvline(layout.live_at, color="red", linestyle="--", linewidth=1,
               label=f"live peak {layout.live_peak / 1024:,.1f} KB")
    ax.axhline(layout.arena / 1024, color="black", linewidth=1, label=f"arena {layout.arena / 1024:,.1f} KB")
    ax.set_xlim(-1, steps)
    ax.set_ylim(0, max(layout.arena, 1) / 1024 * 1.05)
    ax.set_xlabel("step")
    ax.set_ylabel("offset in the arena, KB (1024 B)")
    ticks = list(range(0, steps, max(1, steps // 30)))
    ax.set_xticks(ticks, [schedule.steps[k] for k in ticks], rotation=90, fontsize=6)
    ax.legend(fontsize=7, loc="upper right")
    ax.set_title(f"{m.model_label}: {m.procedure} {m.phase}, setup {m.setup.key}; resident beside the arena "
                 f"{layout.persistent_bytes / 1024:,.1f} KB")
    fig.tight_layout()
    return fig
