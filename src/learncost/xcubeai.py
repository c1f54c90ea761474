"""Reading X-CUBE-AI and ST Edge AI Core reports (``network_generate_report.txt``, ``*_analyze_report.txt``).

The tool's layouts, as public projects hold them (X-CUBE-AI 4.1 to 10.x, ST Edge AI Core 1.x-4.x for MCU
targets):

- line 1 is a banner naming the version: ``Neural Network Tools for STM32 v1.2.0 (AI tools v5.0.0)``,
  ``... (STM.ai v7.3.0-RC5)``, ``... (stm.ai v8.1.0-19520)``, ``STEdgeAI Core v9.0.0-19802``,
  ``ST Edge AI Core v2.2.0-20266``;
- a summary of ``key : value`` lines (keys padded to 16, 19 or 22 characters; from 7.3 ``key :   value``)
  with the totals ``macc``, ``weights (ro)``, ``activations (rw)`` and ``ram (total)`` (4.1: ``rom (ro)``
  and ``ram (rw) wb+io``);
- the model's table: a header naming ``layer (type)`` (``layer (type,original)`` from 7.2) and ``macc``,
  one block per original layer (the first row carries the id; fused activations, weight placeholders and
  converted inputs take rows without one; further inputs continue under ``connected to`` on rows of their
  own), closed by a recap (``model/c-model: macc=...``, ``model p=...``);
- ``C-Arrays (N)``: every C array with its size and memory pool (kernel scratch buffers among them).

Rows are read by their tokens, not their columns (the columns move between versions and numbers are
right- or left-aligned): ``name (Type[, Original])``, then the shape in brackets or parentheses, then the
remaining fields before the ``|`` that starts the C model's side. A line the reader cannot place is refused
with its number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from .errors import LearncostError

#: reports are text of a few hundred KB; a larger file is not one
MAX_BYTES = 32 * 1024 * 1024

_BANNER = [
    (re.compile(r"\((?:AI tools|STM\.ai|stm\.ai) v(\d+\.\d+\.\d+)"), "X-CUBE-AI"),
    (re.compile(r"STEdgeAI Core v(\d+\.\d+\.\d+)"), "X-CUBE-AI"),  # 9.0's banner
    (re.compile(r"ST Edge AI Core v(\d+\.\d+\.\d+)"), "ST Edge AI Core"),
]
_NUMBER = re.compile(r"^-?\d{1,3}(?:,\d{3})*$|^-?\d+$")
_LAYER = re.compile(r"^(?P<name>\S+) \((?P<type>[A-Za-z0-9_/]*)(?:,\s*(?P<original>[^()]*))?\)(?P<rest>.*)$")
_SHAPE = re.compile(r"^\s*(\[[^\]]*\]|\((?:[^()]*)\))")
_RULER = re.compile(r"^[-\s]+$")
_RECAP = re.compile(r"^(?:model/c-model:|model:|\S+ p=\d)")
#: words of a key separated by single spaces (no run of spaces a lazy match could backtrack over)
_SUMMARY = re.compile(r"^(?P<key>[A-Za-z][^\s:]*(?: [^\s:]+)*)\s*:\s+(?P<value>.*)$")
#: the longest line read: real rows are a few hundred characters
MAX_LINE = 20_000


def _int(text: str) -> int:
    return int(text.replace(",", ""))


def _first_int(text: str) -> int | None:
    m = re.search(r"-?\d[\d,]*", text)
    return None if m is None else _int(m.group(0))


@dataclass
class ReportLayer:
    """One row of the model table: ``m_id`` of its block (None on rows folded into the block)."""

    m_id: int | None
    name: str
    type: str
    original: str | None
    shape: tuple[int, ...] | None
    params: int | None
    size_bytes: int | None
    macc: int | None
    connected: list[str]
    line: int


@dataclass
class CArray:
    name: str
    items: int
    size_bytes: int
    pool: str  # "activations", "activations/**default**", "weights/weights", "user/"...
    rest: str  # c-type, format and comment as printed

    @property
    def scratch(self) -> bool:
        return "scratch" in self.name


@dataclass
class Report:
    path: str
    tool: str  # "X-CUBE-AI" or "ST Edge AI Core"
    version: str
    kind: str  # generate, analyze, validate
    summary: dict[str, str]
    macc: int | None
    weights_bytes: int | None
    activations_bytes: int | None
    ram_bytes: int | None
    layers: list[ReportLayer] = field(default_factory=list)
    c_arrays: list[CArray] = field(default_factory=list)
    #: the recap: the model table's MACC (fused activations included) and the C model's
    model_macc: int | None = None
    c_model_macc: int | None = None
    #: the rows are the C model's nodes (``*_c_info.json``), not the model table's
    c_model_rows: bool = False

    @property
    def model_file(self) -> str | None:
        for key in ("model file", "model files", "model_name", "model name"):
            if key in self.summary:
                return self.summary[key].split()[0].strip("'\"")
        return None

    @property
    def label(self) -> str:
        return f"{self.tool} {self.version}"


def _refuse(path: str, line: int | None, what: str) -> LearncostError:
    where = f"{path}" + (f", line {line}" if line else "")
    return LearncostError(what, location=where, code="LC-REPORT-FORMAT",
                          hint="give the network_generate_report.txt or *_analyze_report.txt X-CUBE-AI or ST Edge AI "
                               "Core wrote")


def read(path: str | Path) -> Report:
    """The report at ``path`` (``safe_read``: a regular file within ``MAX_BYTES``)."""
    from .safe_read import read_bytes

    data = read_bytes(Path(path), MAX_BYTES, what="report")
    if str(path).endswith(".json"):
        return parse_c_info(data, str(path))
    return parse(data.decode("utf-8", errors="replace"), str(path))


def parse_c_info(data: bytes, path: str = "<c_info.json>") -> Report:
    """ST Edge AI Core's ``<network>_c_info.json`` (schema 2.0, Core 1.0 on): the tool in
    ``environment.tools[0]``, the model file in its ``input_model``, ``memory_footprint`` (weights,
    activations) and the C model's nodes in ``graphs[0].nodes`` (name, ``description`` = the kernel's type,
    ``macc``), with the buffers (scratch buffers flagged ``STAI_FLAG_SCRATCHS``)."""
    import json

    try:
        doc = json.loads(data.decode("utf-8"))
        tool = doc["environment"]["tools"][0]
        model = tool.get("input_model") or {}
        footprint = doc.get("memory_footprint") or {}
        nodes = doc["graphs"][0]["nodes"]
        buffers = doc.get("buffers") or []
    except (ValueError, UnicodeDecodeError, KeyError, IndexError, TypeError) as exc:
        what = "not JSON" if isinstance(exc, (ValueError, UnicodeDecodeError)) else f"no {exc} where a c_info.json has one"
        raise _refuse(path, None, f"not an ST Edge AI Core c_info.json: {what}") from None
    m = re.match(r"(\d+\.\d+\.\d+)", str(tool.get("version", "")))
    if m is None or not isinstance(nodes, list):
        raise _refuse(path, None, "a c_info.json without the tool's version or the graph's nodes")
    layers = []
    for k, node in enumerate(nodes):
        if not isinstance(node, dict):
            raise _refuse(path, None, f"graph node {k} is not an object")
        macc = node.get("macc")
        if macc is not None and not isinstance(macc, int):
            raise _refuse(path, None, f"graph node {k} ({str(node.get('name'))[:40]}) has a macc that is not an integer")
        layers.append(ReportLayer(node.get("id") if isinstance(node.get("id"), int) else None, str(node.get("name")),
                                  str(node.get("description", "")), None, None, None, None, macc or None, [], 0))
    files = model.get("model_files") or [{}]
    summary = {"model file": str(files[0].get("name", ""))} if files[0].get("name") else {}
    arrays = [CArray(str(b.get("name")), 0, int(b.get("size_bytes") or 0),
                     "activations" if "ACTIVATIONS" in str(b.get("flags", "")) else "weights",
                     str(b.get("flags", ""))) for b in buffers if isinstance(b, dict)]
    total = sum(x.macc or 0 for x in layers)
    return Report(path, "ST Edge AI Core", m.group(1), "c_info", summary, total,
                  footprint.get("weights") if isinstance(footprint.get("weights"), int) else None,
                  footprint.get("activations") if isinstance(footprint.get("activations"), int) else None,
                  None, layers, arrays, model_macc=None, c_model_macc=total, c_model_rows=True)


def parse(text: str, path: str = "<report>") -> Report:
    lines = [line.rstrip("\r\n").rstrip() for line in text.split("\n")]
    long = next((k for k, line in enumerate(lines) if len(line) > MAX_LINE), None)
    if long is not None:
        raise _refuse(path, long + 1, f"a line of {len(lines[long]):,} characters: not a report's")
    start = next((k for k, line in enumerate(lines) if line.strip()), None)
    if start is None:
        raise _refuse(path, None, "the report is empty")
    banner = lines[start].strip().lstrip("<>= ")  # a report pasted under a merge marker keeps its banner
    if start + 1 < len(lines) and not any(p.search(banner) for p, _ in _BANNER):
        banner = lines[start + 1].strip()
    for pattern, tool in _BANNER:
        m = pattern.search(banner)
        if m:
            version = m.group(1)
            break
    else:
        raise _refuse(path, start + 1, f"not an X-CUBE-AI or ST Edge AI Core report: the first line is "
                                       f"{lines[start].strip()[:60]!r}")
    if tool == "X-CUBE-AI" and version.startswith("9.0"):
        tool = "X-CUBE-AI"  # STEdgeAI Core v9.0 is X-CUBE-AI 9.0
    kind = "generate"
    summary: dict[str, str] = {}
    table = None
    for k in range(start + 1, len(lines)):
        line = lines[k]
        title = re.search(r"Exec/report summary \((\w+)", line)
        if title:
            kind = title.group(1)
            if re.search(r"err=-?[1-9]", line):
                raise _refuse(path, k + 1, "the report records a failed run: it holds no figures to check")
            continue
        if "layer (type" in line or "layer (original)" in line:
            table = k
            break
        m = _SUMMARY.match(line)
        if m:
            key = m.group("key").strip()
            summary.setdefault(key, m.group("value").strip())
    if "model/c-model" not in text and "macc" not in summary and table is None:
        raise _refuse(path, None, "no summary and no model table: the report is truncated or of an unknown layout")
    macc = _first_int(summary.get("macc", "")) if "macc" in summary else None
    weights = summary.get("weights (ro)", summary.get("rom (ro)"))
    activations = summary.get("activations (rw)")
    if activations is None and "ram (rw) wb+io" in summary:
        activations = summary["ram (rw) wb+io"]
    ram = summary.get("ram (total)")
    report = Report(path, tool, version, kind, summary, macc, weights and _first_int(weights),
                    activations and _first_int(activations), ram and _first_int(ram))
    if table is not None:
        _read_table(lines, table, report)
    _read_c_arrays(lines, report)
    return report


def _shape(text: str) -> tuple[int, ...]:
    """``[b:1,h:96,w:96,c:3]``, ``(h:48, w:48, c:8)``, ``(1,112,112,16)``, ``(64,)``: the known sizes (8.1
    repeats an axis, ``[b:1,h:96,h:96,...]``: the first is kept)."""
    seen: dict[str, int] = {}
    plain: list[int] = []
    for key, value in re.findall(r"(?:([a-z]+):)?(\d+|None)", text):
        if value == "None":
            continue
        if key:
            seen.setdefault(key, int(value))
        else:
            plain.append(int(value))
    return tuple(seen.values()) if seen else tuple(plain)


def _fields(rest: str) -> tuple[int | None, int | None, int | None, list[str]]:
    """params, size, macc and connected names from a row's fields after its shape (model side only)."""
    tokens = rest.split()
    params = size = macc = None
    names: list[str] = []
    numbers_after: list[int] = []
    for tok in tokens:
        if re.fullmatch(r"[\d,]+/[\d,]+", tok):
            params, size = (_int(x) for x in tok.split("/"))
        elif _NUMBER.match(tok):
            if names or params is not None or size is not None:
                numbers_after.append(_int(tok))
            elif params is None:
                params = _int(tok)  # 4.x/5.x: ``param #`` before ``connected to``
        elif tok in ("(c)", "(i)"):
            continue  # 5.x: the rom's format mark
        else:
            names.append(tok)
    if numbers_after:
        macc = numbers_after[0]  # 4.x/5.x print ``macc rom`` after the names; later ``macc`` before them
    if len(numbers_after) > 1 and size is None:
        size = numbers_after[1]  # 4.x/5.x: the rom, the layer's bytes
    return params, size, macc, names


def _read_table(lines: list[str], header: int, report: Report) -> None:
    head = lines[header]
    macc_after_names = head.find("connected to") < head.find("macc") if "connected to" in head else False
    current_id: int | None = None
    for k in range(header + 1, len(lines)):
        raw = lines[k]
        if not raw.strip() or _RULER.match(raw):
            continue
        if _RECAP.match(raw.strip()):
            m = re.search(r"macc=([\d,]+)(?:/([\d,]+))?", raw)
            if m:
                report.model_macc = _int(m.group(1))
                report.c_model_macc = _int(m.group(2)) if m.group(2) else report.model_macc
            return
        if raw.startswith("Model name"):
            continue
        model_side = raw.split("|", 1)[0]
        body = model_side.strip()
        if not body:
            continue  # a row of the C side only
        m_id = None
        m = re.match(r"^(\d+)\s+(.*)$", body)
        if m and _LAYER.match(m.group(2)):
            m_id, body = int(m.group(1)), m.group(2)
        layer = _LAYER.match(body)
        if layer is None:
            if re.fullmatch(r"\S+", body) and report.layers:
                report.layers[-1].connected.append(body)  # a further input of the row above
                continue
            raise _refuse(report.path, k + 1, f"cannot read this row of the model table: {body[:60]!r}")
        if m_id is not None:
            current_id = m_id
        rest = layer.group("rest")
        shape = None
        s = _SHAPE.match(rest)
        if s:
            shape = _shape(s.group(1))
            rest = rest[s.end():]
        params, size, macc, names = _fields(rest)
        if not macc_after_names and macc is None and params is not None and size is None and not names:
            macc, params = params, None  # a number alone after the shape is the macc (6.0+: no ``param #``)
        elif not macc_after_names and size is None and params is not None:
            macc, params = params, None  # 6.0+: a bare number before the names is the macc, not a param count
        report.layers.append(ReportLayer(current_id if m_id is None else m_id, layer.group("name"),
                                         layer.group("type"), (layer.group("original") or "").strip() or None,
                                         shape, params, size, macc, names, k + 1))
    raise _refuse(report.path, None, "the model table has no closing recap (model/c-model: ...): the report is cut")


def _read_c_arrays(lines: list[str], report: Report) -> None:
    start = next((k for k, line in enumerate(lines) if re.match(r"^C-Arrays \(\d+\)", line.strip())), None)
    if start is None:
        return
    header = next((k for k in range(start + 1, min(start + 4, len(lines))) if "item/size" in lines[k]), None)
    if header is None:
        raise _refuse(report.path, start + 1, "a C-Arrays section without its header line")
    for k in range(header + 1, len(lines)):
        raw = lines[k].strip()
        if not raw or _RULER.match(raw):
            if not raw and report.c_arrays:
                return
            continue
        tokens = raw.split()
        if not tokens[0].isdigit():
            return  # the next section
        if len(tokens) < 4 or not re.fullmatch(r"[\d,]+/[\d,]+", tokens[2]):
            raise _refuse(report.path, k + 1, f"cannot read this C array: {raw[:60]!r}")
        items, size = (_int(x) for x in tokens[2].split("/"))
        report.c_arrays.append(CArray(tokens[1], items, size, tokens[3], " ".join(tokens[4:])))
