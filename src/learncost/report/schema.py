"""The JSON documents learncost writes carry ``schema_version``; the JSON Schema that describes
them ships with the package (``data/schema/output.schema.json``, one ``$defs`` entry per document)."""

from __future__ import annotations

import json
from pathlib import Path

#: bumped in its major part when a key is renamed or removed, in its minor part when keys are added
SCHEMA_VERSION = "1.0"
SCHEMA_PATH = Path(__file__).resolve().parent.parent / "data" / "schema" / "output.schema.json"


def document(body: dict) -> dict:
    """``body`` with ``schema_version`` as its first key."""
    return {"schema_version": SCHEMA_VERSION} | body


def dumps(body: dict, indent: int | None = 2) -> str:
    """A JSON document: ``body`` with ``schema_version``, indented as every report is."""
    return json.dumps(document(body), indent=indent)
