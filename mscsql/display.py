"""Untrusted text (database values, generated SQL, engine messages) made safe to show on a terminal.

Control characters (C0 but tab and newline where kept, DEL, C1 such as the 8-bit CSI ``\\x9b``) and the
Unicode marks that reorder or hide text (bidirectional overrides and isolates) are shown as escapes
(``\\x1b``, ``\\u202e``), so a value can neither move the cursor, retitle the window, write to the
clipboard through OSC sequences, nor make text read differently from what it is. Long values are cut for
display; JSON output keeps every value whole and stays valid JSON.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

_UNSAFE = "\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff"
_UNSAFE_IN_LINE = re.compile(f"[\t\n{_UNSAFE}]")
_UNSAFE_IN_TEXT = re.compile(f"[{_UNSAFE}]")
#: characters of one value shown in a table cell
CELL_CHARS = 200


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char == "\n":
        return "\\n"
    if char == "\t":
        return "\\t"
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def terminal_text(text: str, *, one_line: bool = True, max_chars: int | None = None) -> str:
    """``text`` with every unsafe character escaped (tabs and newlines too when ``one_line``), cut to about
    ``max_chars`` characters with a note of how many were left out."""
    if max_chars is not None and len(text) > max_chars:
        text = text[:max_chars] + f"… (+{len(text) - max_chars} chars)"
    return (_UNSAFE_IN_LINE if one_line else _UNSAFE_IN_TEXT).sub(_escape, text)


def cell_text(value: Any) -> str:
    """A result or schema value as a table shows it: a REAL with 15 significant digits, as SQLite's shell shows
    it (a sum of prices is 76299.96, not 76299.95999999999; the JSON keeps every digit)."""
    if value is None:
        return "NULL"
    if type(value) is float and math.isfinite(value):
        shown = f"{value:.15g}"
        return shown + ".0" if shown.lstrip("-").isdigit() else shown
    return terminal_text(str(value), max_chars=CELL_CHARS)


_JSON_UNSAFE = re.compile(f"[{_UNSAFE}]")


def terminal_json(data: Any) -> str:
    """``data`` as indented JSON in which no character can act on a terminal (it is still the same JSON)."""
    text = json.dumps(data, ensure_ascii=False, indent=2, default=str)
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
