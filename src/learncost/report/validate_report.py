"""Reports of ``learncost validate``: a model beside its X-CUBE-AI report."""

from __future__ import annotations

from ..validate import Validation
from .schema import dumps
from .tables import Table, to_csv

COLUMNS = ["m_id", "report_layer", "report_type", "report_macc", "layer", "kind", "macc", "difference", "reason",
           "paper_macc"]


def _records(v: Validation) -> list[list]:
    out = []
    for p in v.pairs:
        r = p.report
        out.append([r and r.m_id, r and r.name, r and (r.type + (f", {r.original}" if r.original else "")),
                    p.report_macc, p.layer, p.kind, p.macc, p.difference, p.reason, p.paper_macc])
    return out


def _header(v: Validation) -> str:
    r = v.report
    model_file = f" of {r.model_file}" if r.model_file else ""
    return f"{v.model.name} beside the {r.label} {r.kind} report{model_file} (convention xcubeai)"


def tables(v: Validation) -> list[Table]:
    notes = [f"report: {v.report.path}",
             "learncost's figure: forward MACC under the xcubeai convention (the paper's bookings plus one MACC per "
             "bias); rows aligned in execution order by kind",
             f"paper convention total: {v.paper_macc:,}",
             f"{len(v.unexplained)} difference(s) UNEXPLAINED" if v.unexplained else "every difference explained"]
    totals = [[t["figure"], t["report"], t["learncost"], t["difference"], t["reason"]] for t in v.totals]
    return [Table(_header(v), ["m_id", "report layer", "type", "report MACC", "learncost layer", "kind", "MACC",
                               "difference", "reason", "paper MACC"],
                  _records(v), notes, numeric={0, 3, 6, 7, 9}),
            Table("Totals", ["figure", "report", "learncost", "difference", "reason"], totals, [],
                  numeric={1, 2, 3})]


def to_json(v: Validation) -> str:
    r = v.report
    return dumps({
        "model": v.model.id or v.model.name,
        "report": {"path": r.path, "tool": r.tool, "version": r.version, "kind": r.kind, "model_file": r.model_file,
                   "macc": r.macc, "model_macc": r.model_macc, "weights_bytes": r.weights_bytes,
                   "activations_bytes": r.activations_bytes, "ram_bytes": r.ram_bytes,
                   "scratch_bytes": v.scratch_bytes},
        "convention": "xcubeai",
        "macc": v.macc, "paper_macc": v.paper_macc, "params_bytes": v.params_bytes, "arena_bytes": v.arena_bytes,
        "layers": [dict(zip(COLUMNS, rec)) for rec in _records(v)],
        "totals": v.totals,
        "unexplained": len(v.unexplained),
    })


def csv_text(v: Validation) -> str:
    return to_csv(COLUMNS, _records(v))
