"""The small Mongo-like filter language of ``find``, compiled to SQL.

``{"status": "Connected", "amount": {"$gte": 100}, "$or": [{...}, {...}]}``. Operators:
equality, ``$in $nin $ne $gt $gte $lt $lte $exists $contains``, combined with ``$and``/``$or``.
A filter holds at most ``MAX_CONDITIONS`` conditions (each operator on a field and each operand of
``$and``/``$or`` counts one; SQLite refuses deep expression trees) and an ``$in`` list at most
``MAX_IN_VALUES`` values; every value is checked as the field's own values are (``Field.check``).

The expression used for a field is exactly the one the index DDL uses (``store/indexes.py``),
with the JSON path and the Noun's type as literals, so the planners match indexes.
"""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.elements import ColumnElement

from hubwire.errors import FieldError, ValidationError
from hubwire.nouns.schema import Field, camel_to_snake, parse_datetime
from hubwire.nouns.values import check_number, check_text, shown
from hubwire.store.indexes import field_sql
from hubwire.store.tables import entities

if TYPE_CHECKING:
    from hubwire.nouns.noun import Noun

__all__ = [
    "MAX_CONDITIONS",
    "MAX_IN_VALUES",
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
MAX_CONDITIONS = 100
MAX_IN_VALUES = 1000


def type_literal(noun_name: str) -> ColumnElement[Any]:
    # Noun names are validated identifiers; a literal lets partial indexes apply.
    return entities.c.type == sa.literal_column(f"'{noun_name}'")


def _epoch(field: str, value: Any) -> float:
    """created_at/updated_at are epoch seconds: a filter gives them as ISO 8601 text or seconds."""
    dt = parse_datetime(field, value)
    if isinstance(dt, FieldError):
        raise ValidationError(dt.message, [dt])
    return dt.timestamp() if not isinstance(value, int | float) else float(value)


def _meta_value(name: str, value: Any) -> Any:
    """A value compared with one of the entity's own columns, of that column's type."""
    if name in ("created_at", "updated_at"):
        return _epoch(name, value)
    if name == "version":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError.single(name, "type", "version must be an integer")
        err = check_number(name, value)
    elif not isinstance(value, str):
        raise ValidationError.single(name, "type", f"{name} must be a string (an entity id)")
    else:
        err = check_text(name, value)
    if err is not None:
        raise ValidationError(err.message, [err])
    return value


class _Compiler:
    def __init__(self, noun: Noun, dialect: str, coerce: bool) -> None:
        self.noun = noun
        self.dialect = dialect
        self.coerce = coerce
        self.conditions = 0

    def count(self, n: int = 1) -> None:
        self.conditions += n
        if self.conditions > MAX_CONDITIONS:
            raise ValidationError.single(
                "filter", "too_large", f"a filter holds at most {MAX_CONDITIONS} conditions (operators and operands)"
            )

    def compile(self, flt: Mapping[str, Any]) -> ColumnElement[bool]:
        if not isinstance(flt, Mapping):
            raise ValidationError.single("filter", "type", "a filter must be an object")
        parts: list[ColumnElement[bool]] = []
        for key, cond in flt.items():
            if not isinstance(key, str) or check_text("filter", key) is not None:
                raise ValidationError.single("filter", "type", f"filter keys must be text, not {shown(repr(key))}")
            if key in ("$and", "$or"):
                if not isinstance(cond, list) or not cond:
                    raise ValidationError.single(key, "type", f"{key} takes a non-empty list of filters")
                self.count(len(cond))  # counted before descending: a wide list is refused at once
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
            conv = functools.partial(_meta_value, "id" if name == "$id" else name)
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
            raise ValidationError.single(name, "operator", f"unknown operator {shown(op)} on {name}")
        self.count()
        if op == "$exists":
            if self.coerce and isinstance(arg, str):
                arg = arg.lower() in ("true", "1", "yes")
            if not isinstance(arg, bool):
                raise ValidationError.single(name, "type", f"$exists on {name} takes true or false")
            return expr.is_not(None) if arg else expr.is_(None)
        if op == "$contains":
            return self._contains(name, expr, arg, f)
        if op in ("$in", "$nin"):
            if self.coerce and isinstance(arg, str):
                arg = [a for a in arg.split(",") if a]
            if not isinstance(arg, list | tuple):
                raise ValidationError.single(name, "type", f"{op} on {name} takes a list")
            if len(arg) > MAX_IN_VALUES:
                raise ValidationError.single(name, "too_large", f"{op} on {name} takes at most {MAX_IN_VALUES} values")
            if any(a is None for a in arg):
                raise ValidationError.single(name, "type", f"{op} on {name} takes values, not null")
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
        err = check_text(name, arg)
        if err is not None:
            raise ValidationError(err.message, [err])
        fn = sa.func.instr(expr, arg) if self.dialect == "sqlite" else sa.func.strpos(expr, arg)
        return fn > 0


def compile_filter(
    noun: Noun, flt: Mapping[str, Any] | None, dialect: str, *, coerce: bool = False, likely_type: bool = False
) -> ColumnElement[bool]:
    """The WHERE of ``flt`` on ``noun``'s entities. ``likely_type`` (SQLite only) tells the planner that
    the type term selects most rows, so that it reads a field's partial index rather than the type's."""
    where = type_literal(noun.name)
    if likely_type and dialect == "sqlite":
        where = sa.func.likely(where)
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


# The values a cursor may hold for a sort key of each kind (what encode_cursor writes for it).
_CURSOR_TYPES: dict[str, tuple[type, ...]] = {"num": (int, float), "bool": (bool,), "text": (str,)}


def decode_cursor(cursor: str, kind: str) -> tuple[Any, str]:
    """The (sort value, last id) of a ``next_cursor``; anything else, of any shape, is a 422."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value, last_id = json.loads(raw)
        if not isinstance(last_id, str) or check_text("cursor", last_id) is not None:
            raise ValueError
        if value is not None:
            if not isinstance(value, _CURSOR_TYPES.get(kind, ())) or isinstance(value, bool) != (kind == "bool"):
                raise ValueError
            if isinstance(value, str) and check_text("cursor", value) is not None:
                raise ValueError
            if isinstance(value, int | float) and check_number("cursor", value) is not None:
                raise ValueError
        return value, last_id
    except (ValueError, TypeError, RecursionError) as exc:
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
