"""A minimal reader of an ODS sheet's cells (value and formula), for cross-checking the paper.

``number-columns-repeated`` / ``number-rows-repeated`` are expanded: the sheet stores equal
neighbouring cells once with a repeat count (analysis-cells.tsv drops those copies, e.g. F3).
"""

from __future__ import annotations

import zipfile
import xml.etree.ElementTree as ET
from pathlib import Path

T = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"
O = "{urn:oasis:names:tc:opendocument:xmlns:office:1.0}"


def column_name(index: int) -> str:
    name, index = "", index + 1
    while index:
        index, rem = divmod(index - 1, 26)
        name = chr(65 + rem) + name
    return name


def read_cells(path: Path, sheet: int = 0) -> dict[str, tuple[object, str]]:
    root = ET.fromstring(zipfile.ZipFile(path).read("content.xml"))
    table = list(root.iter(T + "table"))[sheet]
    cells: dict[str, tuple[object, str]] = {}
    row_no = 0
    for row in table.iter(T + "table-row"):
        row_rep = int(row.get(T + "number-rows-repeated", "1"))
        col = 0
        for cell in row:
            if cell.tag not in (T + "table-cell", T + "covered-table-cell"):
                continue
            rep = int(cell.get(T + "number-columns-repeated", "1"))
            kind = cell.get(O + "value-type")
            if kind and row_rep < 100:
                value: object = float(cell.get(O + "value")) if kind in ("float", "percentage") else "".join(cell.itertext())
                for i in range(rep):
                    for j in range(row_rep):
                        cells[f"{column_name(col + i)}{row_no + j + 1}"] = (value, cell.get(T + "formula", ""))
            col += rep
        row_no += row_rep
    return cells
