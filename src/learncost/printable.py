"""Text from model files and specs made safe to show: no terminal control, no line breaks.

Layer, node and file names come from the user's files. Written raw to a terminal, an escape
sequence in a name recolours or rewrites the screen and a newline splits one error line in
two; rich would also read ``[/x]`` as markup. Every renderer passes names through here, and
rich receives them as ``Text`` (never parsed as markup).
"""

from __future__ import annotations

import unicodedata


def printable(text: object, *, keep_newlines: bool = False) -> str:
    """``text`` with every non-printable character (controls, escapes, bidirectional overrides,
    line separators) written as its Python escape, e.g. ESC as ``\\x1b``."""
    s = str(text)
    if s.isprintable():
        return s
    out = []
    for ch in s:
        if ch.isprintable() or ch == " " or (keep_newlines and ch == "\n"):
            out.append(ch)
        elif unicodedata.category(ch) == "Zs":  # a visible-width space (no-break, em...): harmless
            out.append(" ")
        else:
            out.append(ch.encode("unicode_escape").decode("ascii"))
    return "".join(out)

