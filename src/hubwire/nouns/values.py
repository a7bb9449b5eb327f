"""The values Hubwire accepts: what can be stored can always be read, listed, exported and streamed back.

Every value that enters (a REST body, a ``?filter``, a Noun verb's fields in Python) keeps these
limits, checked before anything is written:

- text is valid Unicode: no lone surrogate (``"\\ud800"``), in values and in object keys alike,
  because UTF-8 (every response, PostgreSQL) cannot encode one; and no NUL (``"\\u0000"``), which
  PostgreSQL's JSON cannot hold;
- numbers are finite and within signed 64 bits (-2^63 .. 2^63-1), integers and floats alike:
  PostgreSQL's JSON gives a float like ``1e300`` back as a 301-digit integer, which no JSON encoder
  of ours (nor most clients) reads back, and SQLite cannot bind an integer past 64 bits;
- a JSON document nests at most ``MAX_DEPTH`` arrays and objects;
- date-times lie within years 1..9999 once moved to UTC (see ``schema._check_datetime``).

This module is pure: it never touches the database or the network.
"""

from __future__ import annotations

import math
import re
from typing import Any

from hubwire.errors import FieldError

__all__ = [
    "EPOCH_MAX",
    "EPOCH_MIN",
    "INT_MAX",
    "INT_MIN",
    "MAX_DEPTH",
    "check_json",
    "check_number",
    "check_text",
    "is_plain",
    "shown",
]

MAX_DEPTH = 64
INT_MIN = -(2**63)
INT_MAX = 2**63 - 1
# Epoch seconds of 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z: a date-time given as a number.
EPOCH_MIN = -62135596800
EPOCH_MAX = 253402300799
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def is_plain(value: Any) -> bool:
    """True for the common values that need no further check: ASCII text, 64-bit integers, booleans."""
    if type(value) is str:
        return value.isascii() and "\x00" not in value  # isascii is O(1) in CPython
    return bool(INT_MIN <= value <= INT_MAX)


def shown(text: str) -> str:
    """``text`` printable anywhere: a lone surrogate is written as its ``\\udXXX`` escape."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def check_text(name: str, value: str) -> FieldError | None:
    if value.isascii():
        if "\x00" not in value:
            return None
    elif _UNSTORABLE.search(value) is None:
        return None
    what = shown(name)
    return FieldError(what, "invalid_text", f"{what} is not storable text (it holds a NUL or a lone surrogate)")


def check_number(name: str, value: int | float) -> FieldError | None:
    """A finite number within signed 64 bits (the caller has already refused booleans and other types)."""
    if isinstance(value, float) and not math.isfinite(value):
        return FieldError(shown(name), "range", f"{shown(name)} must be a finite number")
    if not INT_MIN <= value <= INT_MAX or (isinstance(value, float) and value >= 2.0**63):
        return FieldError(shown(name), "range", f"{shown(name)} must lie within -2^63 .. 2^63-1")
    return None


def check_json(name: str, value: Any) -> FieldError | None:
    """The first problem of a JSON value (text, keys, numbers, nesting), or None. Iterative: any depth is safe.

    ``name`` is the path of ``value`` (``""`` for a whole document, whose keys are then the paths).
    """
    # (path, value, depth, the top-level field the value is in: named when it nests too deep)
    stack: list[tuple[str, Any, int, str]] = [(name, value, 0, name)]
    while stack:
        path, v, depth, top = stack.pop()
        if isinstance(v, str):
            err = check_text(path, v)
        elif isinstance(v, bool) or v is None:
            err = None
        elif isinstance(v, int | float):
            err = check_number(path, v)
        elif isinstance(v, dict | list | tuple):
            if depth >= MAX_DEPTH:
                where = shown(top) or "the document"
                return FieldError(where, "too_deep", f"{where} nests deeper than {MAX_DEPTH} levels")
            if isinstance(v, dict):
                for key, item in v.items():
                    if not isinstance(key, str):
                        return FieldError(shown(path), "type", f"{shown(path)}: object keys must be strings")
                    inner = f"{path}.{key}" if path else key
                    if check_text(inner, key) is not None:
                        where = shown(inner)
                        return FieldError(
                            where, "invalid_text", f"{where}: a key is not storable text (a NUL or a lone surrogate)"
                        )
                    stack.append((inner, item, depth + 1, top or key))
            else:
                stack.extend((f"{path}[{i}]", item, depth + 1, top) for i, item in enumerate(v))
            continue
        else:
            err = FieldError(shown(path), "type", f"{shown(path)} must hold only JSON values")
        if err is not None:
            return err
    return None
