"""Turn database values into JSON-safe cells without losing what a result comparison needs.

Rules (documented in the README):

- ``None``, ``bool``, ``int`` and ``str`` pass through; finite ``float`` too.
- Non-finite floats become the strings ``"inf"``, ``"-inf"`` and ``"nan"``.
- ``Decimal``: an integral value becomes ``int``, any other finite value ``float`` (so ``1.50`` equals
  ``1.5`` as it does in Python), a non-finite one a string as above, and one beyond 1e300 (or below
  1e-300) its exact decimal text.
- ``bytes`` / ``bytearray`` / ``memoryview`` become ``"\\x"`` followed by lower-case hex (PostgreSQL's
  ``bytea`` text form), so equal blobs stay equal and never equal ordinary text.
- dates, times and datetimes become ISO 8601 strings; ``timedelta`` becomes its total seconds (float);
  UUIDs, IP addresses and anything else become ``str(value)``; lists (PostgreSQL arrays) become their
  JSON text.
- Text that is not valid UTF-8 is decoded with replacement characters (done by the connections'
  text factories), so one bad byte never loses a row.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from mscsql.types import Cell

_MAX_DECIMAL_EXPONENT = 300


def _float_cell(value: float) -> Cell:
    if math.isfinite(value):
        return value
    if math.isnan(value):
        return "nan"
    return "inf" if value > 0 else "-inf"


def to_cell(value: Any) -> Cell:
    """The JSON-safe form of one database value."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return _float_cell(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            return _float_cell(float(value))
        if abs(value.adjusted()) > _MAX_DECIMAL_EXPONENT:
            return str(value)  # beyond float range and Python's int-to-text limit: keep the exact text
        if value == value.to_integral_value():
            return int(value)
        return float(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "\\x" + bytes(value).hex()
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, _dt.timedelta):
        return value.total_seconds()
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, default=str, ensure_ascii=False, sort_keys=True)
    return str(value)


_INF = float("inf")


def to_row(values: Any) -> tuple[Cell, ...]:
    """The JSON-safe form of a row (the row itself, as a tuple, when every cell is already plain)."""
    for value in values:
        kind = type(value)
        if kind is int or kind is str or value is None or (kind is float and -_INF < value < _INF):
            continue
        return tuple(to_cell(v) for v in values)
    return values if type(values) is tuple else tuple(values)


#: how SQLite text that is not valid UTF-8 is decoded: "replace" (U+FFFD, the default), "ignore" (drop the
#: bad bytes, as the Spider evaluator does) or "strict" (the statement fails, as with Python's default)
TEXT_DECODINGS = ("replace", "ignore", "strict")


def text_factory(errors: str = "replace") -> Callable[[bytes], str]:
    """A SQLite text factory decoding UTF-8 with the given error handling."""
    if errors not in TEXT_DECODINGS:
        raise ValueError(f"text decoding must be one of {TEXT_DECODINGS}, not {errors!r}")

    def decode(data: bytes) -> str:
        return data.decode("utf-8", errors=errors)

    return decode

