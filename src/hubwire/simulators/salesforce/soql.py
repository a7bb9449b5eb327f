"""The small SOQL subset the simulator answers, parsed into a :class:`Query`.

``SELECT f1, f2 FROM Contact|Account|Opportunity|Lead [WHERE <cond> [AND <cond>]...]
[ORDER BY f [ASC|DESC] [NULLS FIRST|LAST], ...] [LIMIT n]`` where a condition is
``field =|!=|<|<=|>|>= literal`` or ``field [NOT] IN (literal, ...)`` and a literal is a quoted
string, a number, ``true``/``false``/``null``, a date (``2024-01-31``) or a datetime
(``2024-01-31T10:00:00Z``, ``...00.000+0000``). Anything else raises :class:`SoqlError`
(``MALFORMED_QUERY``). Pure: knows nothing of records or HTTP.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

__all__ = ["Condition", "Query", "SoqlError", "parse", "parse_datetime"]


class SoqlError(ValueError):
    """A query outside the subset: Salesforce's ``MALFORMED_QUERY``."""


@dataclass(frozen=True)
class Condition:
    field: str
    op: str
    value: Any


@dataclass(frozen=True)
class Query:
    fields: tuple[str, ...]
    sobject: str
    where: tuple[Condition, ...] = ()
    order: tuple[tuple[str, bool], ...] = field(default=())  # (field, descending)
    limit: int | None = None


_STATEMENT = re.compile(
    r"^\s*SELECT\s+(?P<fields>.+?)\s+FROM\s+(?P<sobject>\w+)"
    r"(?:\s+WHERE\s+(?P<where>.+?))?"
    r"(?:\s+ORDER\s+BY\s+(?P<order>.+?))?"
    r"(?:\s+LIMIT\s+(?P<limit>\d+))?\s*$",
    re.IGNORECASE | re.DOTALL,
)
_CONDITION = re.compile(
    r"^\s*(?P<field>\w+)\s*(?:(?P<op>!=|<=|>=|=|<|>)\s*(?P<value>'(?:[^'\\]|\\.)*'|[^\s']+)"
    r"|\s+(?P<in>NOT\s+IN|IN)\s*\((?P<values>[^)]*)\))\s*$",
    re.IGNORECASE | re.DOTALL,
)
_AND = re.compile(r"\s+AND\s+(?=(?:[^']*'[^']*')*[^']*$)", re.IGNORECASE)
_FIELD = re.compile(r"^\w+$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})$")


def parse_datetime(text: str) -> datetime:
    """A SOQL or API datetime (``Z``, ``+0000`` or ``+00:00`` offsets) as an aware datetime."""
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    elif re.search(r"[+-]\d{4}$", text):
        text = f"{text[:-2]}:{text[-2:]}"
    return datetime.fromisoformat(text).astimezone(UTC)


def _literal(text: str) -> Any:
    text = text.strip()
    if text.startswith("'") and text.endswith("'") and len(text) >= 2:
        return re.sub(r"\\(.)", r"\1", text[1:-1])
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "null":
        return None
    if _DATETIME.match(text):
        return parse_datetime(text)
    if _DATE.match(text):
        return date.fromisoformat(text)
    try:
        return float(text) if "." in text else int(text)
    except ValueError:
        raise SoqlError(f"unexpected token: '{text}'") from None


def parse(soql: str) -> Query:
    match = _STATEMENT.match(soql)
    if match is None:
        raise SoqlError(f"unexpected token in query: {soql.strip()[:80]!r}")
    fields = tuple(f.strip() for f in match["fields"].split(","))
    if not all(_FIELD.match(f) for f in fields):
        raise SoqlError(f"unexpected token: '{match['fields'].strip()}' (the simulator takes plain field names)")
    conditions = []
    if match["where"]:
        for part in _AND.split(match["where"]):
            cond = _CONDITION.match(part)
            if cond is None:
                raise SoqlError(f"unexpected token: '{part.strip()}'")
            if cond["in"]:
                values = tuple(_literal(v) for v in cond["values"].split(",") if v.strip())
                conditions.append(Condition(cond["field"], cond["in"].upper().replace("  ", " "), values))
            else:
                conditions.append(Condition(cond["field"], cond["op"], _literal(cond["value"])))
    order = []
    if match["order"]:
        for item in match["order"].split(","):
            words = item.split()
            if (
                not words
                or not _FIELD.match(words[0])
                or any(w.upper() not in ("ASC", "DESC", "NULLS", "FIRST", "LAST") for w in words[1:])
            ):
                raise SoqlError(f"unexpected token: '{item.strip()}'")
            order.append((words[0], any(w.upper() == "DESC" for w in words[1:])))
    limit = int(match["limit"]) if match["limit"] else None
    return Query(fields, match["sobject"], tuple(conditions), tuple(order), limit)
