"""The small Mongo-like filter language of ``find``, compiled to SQL.

``{"status": "Connected", "amount": {"$gte": 100}, "$or": [{...}, {...}]}``. Operators:
equality, ``$in $nin $ne $gt $gte $lt $lte $exists $contains``, combined with ``$and``/``$or``.

The expression used for a field is exactly the one the index DDL uses (``store/indexes.py``),
with the JSON path and the Noun's type as literals, so the planners match indexes.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.elements import ColumnElement

from hubwire.errors import FieldError, ValidationError
from hubwire.nouns.schema import Field, camel_to_snake
from hubwire.store.indexes import field_sql
from hubwire.store.tables import entities

if TYPE_CHECKING:
    from hubwire.nouns.noun import Noun

__all__ = [
    "META_COLUMNS",
    "SortKey",
    "compile_filter",
    "decode_cursor",
    "encode_cursor",
    "sort_keys",
]

META_COLUMNS = {
    "$id": "id",
    "id": "id",
    "created_at": "created_at",
    "updated_at": "updated_at",
    "version": "version",
}
_COMPARE = {"$gt": "__gt__", "$gte": "__ge__", "$lt": "__lt__", "$lte": "__le__"}
_OPS = {"$eq", "$ne", "$in", "$nin", "$exists", "$contains", *_COMPARE}


def type_literal(noun_name: str) -> ColumnElement[Any]:
    # Noun names are validated identifiers; a literal lets partial indexes apply.
    return entities.c.type == sa.literal_column(f"'{noun_name}'")


def _epoch(field: str, value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            pass
    raise ValidationError.single(field, "type", f"{field} must be an ISO 8601 date-time")


class _Compiler:
    def __init__(self, noun: Noun, dialect: str, coerce: bool) -> None:
        self.noun = noun
        self.dialect = dialect
        self.coerce = coerce

    def compile(self, flt: Mapping[str, Any]) -> ColumnElement[bool]:
        if not isinstance(flt, Mapping):
            raise ValidationError.single("filter", "type", "a filter must be an object")
        parts: list[ColumnElement[bool]] = []
        for key, cond in flt.items():
            if key in ("$and", "$or"):
                if not isinstance(cond, list) or not cond:
                    raise ValidationError.single(key, "type", f"{key} takes a non-empty list of filters")
                subs = [self.compile(c) for c in cond]
                parts.append(sa.and_(*subs) if key == "$and" else sa.or_(*subs))
            elif key.startswith("$") and key != "$id":
                raise ValidationError.single(key, "operator", f"unknown operator {key}")
            else:
                parts.append(self.field(key, cond))
        return sa.and_(sa.true(), *parts)

    def field(self, key: str, cond: Any) -> ColumnElement[bool]:
        name = key if key in META_COLUMNS else camel_to_snake(key)
        if isinstance(cond, Mapping) and cond and all(isinstance(k, str) and k.startswith("$") for k in cond):
            ops = dict(cond)
        else:
            ops = {"$eq": cond}
        alias = self.noun.filter_aliases.get(name, {})
        if name in META_COLUMNS:
            col: Any = getattr(entities.c, META_COLUMNS[name])
            conv = (lambda v: _epoch(name, v)) if name in ("created_at", "updated_at") else (lambda v: v)
            return sa.and_(*[self._op(name, col, op, arg, conv, None) for op, arg in ops.items()])
        f = self.noun.fields.get(name)
        if f is None:
            known = ", ".join(sorted(self.noun.fields))
            raise ValidationError.single(
                key, "unknown_field", f"{self.noun.name} has no field {key!r} (fields: {known})"
            )
        expr: Any = sa.literal_column(field_sql(self.dialect, f.name, f.sortable_kind))
        clauses = []
        for op, arg in ops.items():
            if op == "$eq" and isinstance(arg, str) and arg in alias:
                op, arg = "$in", list(alias[arg])
            clauses.append(self._op(name, expr, op, arg, lambda v, f=f: self._value(f, v), f))
        return sa.and_(*clauses)

    def _value(self, f: Field, v: Any) -> Any:
        one = Field(f.name, f.type, enum=f.enum, target=f.target)  # element type, never required
        value, err = one.check(v, coerce=self.coerce)
        if err is not None:
            raise ValidationError(err.message, [err])
        if self.dialect == "sqlite" and isinstance(value, bool):
            return int(value)
        return value

    def _op(
        self, name: str, expr: ColumnElement[Any], op: str, arg: Any, conv: Any, f: Field | None
    ) -> ColumnElement[bool]:
        if op not in _OPS:
            raise ValidationError.single(name, "operator", f"unknown operator {op} on {name}")
        if op == "$exists":
            if self.coerce and isinstance(arg, str):
                arg = arg.lower() in ("true", "1", "yes")
            return expr.is_not(None) if arg else expr.is_(None)
        if op == "$contains":
            return self._contains(name, expr, arg, f)
        if op in ("$in", "$nin"):
            if self.coerce and isinstance(arg, str):
                arg = [a for a in arg.split(",") if a]
            if not isinstance(arg, list | tuple):
                raise ValidationError.single(name, "type", f"{op} on {name} takes a list")
            values = [conv(a) for a in arg]
            if op == "$in":
                return expr.in_(values) if values else sa.false()
            return sa.or_(expr.is_(None), expr.not_in(values)) if values else sa.true()
        if f is not None and f.many:
            raise ValidationError.single(name, "operator", f"{name} is a list: use $contains")
        if arg is None:
            if op == "$eq":
                return expr.is_(None)
            if op == "$ne":
                return expr.is_not(None)
            raise ValidationError.single(name, "type", f"{op} on {name} needs a value")
        value = conv(arg)
        if op == "$eq":
            return sa.and_(expr == value)
        if op == "$ne":
            return sa.or_(expr.is_(None), expr != value)
        compared: ColumnElement[bool] = getattr(expr, _COMPARE[op])(value)
        return compared

    def _contains(self, name: str, expr: Any, arg: Any, f: Field | None) -> ColumnElement[bool]:
        if f is not None and f.many:
            value = self._value(f, arg)
            if self.dialect == "sqlite":
                return sa.exists(
                    sa.select(sa.literal(1))
                    .select_from(
                        sa.func.json_each(entities.c.data, sa.literal_column(f"'$.{f.name}'")).table_valued("value")
                    )
                    .where(sa.literal_column("value") == value)
                )
            return sa.literal_column(f"(data -> '{f.name}')").op("@>")(sa.literal([value], postgresql.JSONB))
        if f is None or f.type not in ("string", "text", "enum", "relation", "datetime"):
            raise ValidationError.single(name, "operator", f"$contains needs a list or text field, {name} is not one")
        if not isinstance(arg, str):
            raise ValidationError.single(name, "type", f"$contains on {name} takes a string")
        fn = sa.func.instr(expr, arg) if self.dialect == "sqlite" else sa.func.strpos(expr, arg)
        return fn > 0


def compile_filter(
    noun: Noun, flt: Mapping[str, Any] | None, dialect: str, *, coerce: bool = False
) -> ColumnElement[bool]:
    where = type_literal(noun.name)
    if flt:
        where = sa.and_(where, _Compiler(noun, dialect, coerce).compile(flt))
    return where


class SortKey:
    def __init__(self, name: str, expr: Any, descending: bool, kind: str) -> None:
        self.name = name
        self.expr = expr
        self.descending = descending
        self.kind = kind


def sort_keys(noun: Noun, sort: str | None, dialect: str) -> SortKey:
    """``"-amount"`` sorts by amount descending; the id breaks ties. Default ``created_at``."""
    spec = (sort or "created_at").strip()
    descending = spec.startswith("-")
    name = camel_to_snake(spec.lstrip("-+"))
    if name in ("created_at", "updated_at"):
        return SortKey(name, getattr(entities.c, name), descending, "num")
    f = noun.fields.get(name)
    if f is None or f.sortable_kind == "json":
        raise ValidationError(
            f"cannot sort {noun.name} by {spec!r}",
            [
                FieldError(
                    "sort",
                    "unknown_field",
                    f"sort by created_at, updated_at or a scalar field of {noun.name}",
                )
            ],
        )
    return SortKey(name, sa.literal_column(field_sql(dialect, f.name, f.sortable_kind)), descending, f.sortable_kind)


def encode_cursor(value: Any, last_id: str) -> str:
    raw = json.dumps([value, last_id], separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[Any, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value, last_id = json.loads(raw)
        if not isinstance(last_id, str):
            raise ValueError
        return value, last_id
    except (ValueError, TypeError) as exc:
        raise ValidationError.single("cursor", "invalid", "the cursor is not one this API returned") from exc


def after_cursor(key: SortKey, value: Any, last_id: str) -> ColumnElement[bool]:
    """Keyset condition for the rows after (value, last_id); NULLs sort first ascending."""
    idc = entities.c.id
    if value is not None:
        value = sa.literal(value)
    if key.descending:
        if value is None:
            return sa.and_(key.expr.is_(None), idc < last_id)
        return sa.or_(key.expr < value, sa.and_(key.expr == value, idc < last_id), key.expr.is_(None))
    if value is None:
        return sa.or_(sa.and_(key.expr.is_(None), idc > last_id), key.expr.is_not(None))
    return sa.or_(key.expr > value, sa.and_(key.expr == value, idc > last_id))
