"""Field mappings as data: a provider's fields (:class:`RemoteField`), the user's mappings
(:class:`FieldMapping`, each with a :class:`Transform`) and their validation against both sides.

A mapping fills one Noun field from one remote field (``direction`` ``both``, the default, or
``pull``) and, where its transform can be read backwards, writes the Noun field back to it on
write-through and push (``both``, or ``push`` only). Transforms:

- ``string``: the remote value as text (``""`` is no value);
- ``number``: a number (HubSpot sends numbers as text), an integer when it is one;
- ``date``: ``YYYY-MM-DD`` from a date, a date-time (ISO 8601) or epoch milliseconds;
- ``enum``: ``{"type": "enum", "map": {remote value: Noun value}}``; a value the map lacks is no
  value. Written back only when no two remote values map to the same Noun value.

Without a transform the value is copied as it comes (what ``field_mappings`` given at connect
does). Saved mappings are checked with :func:`validate`: the remote field exists (its name or,
for Pipedrive, its 40-character key), the Noun field exists and is not a relation or a list, each
Noun field is mapped once, and the types agree (``remote type -> transform -> Noun field type``,
the table ``_READS`` / ``_FILLS``); an enum map's keys must be options of the remote field (an
option's label is taken for its value) and, for an enum Noun field, its values must be the Noun's.
Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal, cast

from hubwire.errors import FieldError, ValidationError
from hubwire.nouns.noun import Noun
from hubwire.nouns.schema import camel_to_snake

__all__ = [
    "DIRECTIONS",
    "REMOTE_TYPES",
    "TRANSFORMS",
    "FieldMapping",
    "Option",
    "RemoteField",
    "Transform",
    "parse_mappings",
    "validate",
]

RemoteType = Literal["string", "number", "date", "datetime", "boolean", "enum"]
TransformKind = Literal["string", "number", "date", "enum"]
MappingDirection = Literal["both", "pull", "push"]
REMOTE_TYPES: tuple[str, ...] = ("string", "number", "date", "datetime", "boolean", "enum")
TRANSFORMS: tuple[str, ...] = ("string", "number", "date", "enum")
DIRECTIONS: tuple[str, ...] = ("both", "pull", "push")

# Which transforms read a remote type, and which Noun field types each transform fills.
_READS: dict[str, frozenset[str]] = {
    "string": frozenset({"string", "enum"}),
    "number": frozenset({"number", "string"}),
    "date": frozenset({"date", "string"}),
    "datetime": frozenset({"date", "string"}),
    "boolean": frozenset({"string", "enum"}),
    "enum": frozenset({"enum", "string"}),
}
_FILLS: dict[str, frozenset[str]] = {
    "string": frozenset({"string", "text"}),
    "number": frozenset({"number", "integer"}),
    "date": frozenset({"datetime", "string", "text"}),
    "enum": frozenset({"enum", "string", "text"}),
}
# A value copied as it comes: the remote type's own Noun field types.
_AS_IS: dict[str, frozenset[str]] = {
    "string": frozenset({"string", "text"}),
    "number": frozenset({"number", "integer", "string", "text"}),
    "date": frozenset({"datetime", "string", "text"}),
    "datetime": frozenset({"datetime", "string", "text"}),
    "boolean": frozenset({"boolean"}),
    "enum": frozenset({"string", "text"}),
}
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class Option:
    """One value an enum remote field takes (``value`` is what records hold) and its ``label``."""

    value: str
    label: str


@dataclass(frozen=True)
class RemoteField:
    """A provider field of one object type, as its metadata describes it, the type normalised."""

    name: str
    label: str
    type: RemoteType
    options: tuple[Option, ...] = ()
    custom: bool = False
    writable: bool = True

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "options": [{"value": o.value, "label": o.label} for o in self.options],
            "custom": self.custom,
            "writable": self.writable,
        }


@dataclass(frozen=True)
class Transform:
    """How a remote value becomes a Noun value (:meth:`read`) and back (:meth:`write`)."""

    kind: TransformKind
    map: dict[str, str] = field(default_factory=dict)

    @property
    def invertible(self) -> bool:
        return self.kind != "enum" or len(set(self.map.values())) == len(self.map)

    def read(self, value: Any) -> Any:
        if isinstance(value, dict) and "value" in value:  # Pipedrive's option and money objects
            value = value["value"]
        if value is None or value == "":
            return None
        if self.kind == "string":
            return value if isinstance(value, str) else str(value)
        if self.kind == "number":
            return _number(value)
        if self.kind == "date":
            return _day(value)
        return self.map.get(str(value))

    def write(self, value: Any) -> Any:
        if value is None:
            return None
        if self.kind == "date":
            return _day(value)
        if self.kind == "enum":
            back = {v: k for k, v in self.map.items()}
            return back.get(str(value))
        return value

    def to_json(self) -> dict[str, Any]:
        return {"type": self.kind, "map": dict(self.map)} if self.kind == "enum" else {"type": self.kind}


@dataclass(frozen=True)
class FieldMapping:
    """``remote`` (the provider's field) <-> ``field`` (the Noun's, snake_case) through ``transform``."""

    remote: str
    field: str
    transform: Transform | None = None
    direction: MappingDirection = "both"

    @property
    def pulls(self) -> bool:
        return self.direction != "push"

    @property
    def pushes(self) -> bool:
        return self.direction != "pull" and (self.transform is None or self.transform.invertible)

    def read(self, value: Any) -> Any:
        return value if self.transform is None else self.transform.read(value)

    def write(self, value: Any) -> Any:
        return value if self.transform is None else self.transform.write(value)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"remote": self.remote, "field": self.field}
        if self.transform is not None:
            out["transform"] = self.transform.to_json()
        out["direction"] = self.direction
        return out


def _number(value: Any) -> int | float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return int(number) if number.is_integer() and abs(number) < 2**53 else number


def _day(value: Any) -> str | None:
    """``YYYY-MM-DD`` of a date, an ISO 8601 date-time (its UTC day) or epoch milliseconds."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).date().isoformat() if value.tzinfo else value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    text = str(value).strip()
    if text.lstrip("-").isdigit():  # HubSpot's older spelling: milliseconds since the epoch
        return datetime.fromtimestamp(int(text) / 1000, UTC).date().isoformat()
    if _DAY.fullmatch(text):
        return text
    try:
        return _day(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        return None


def _transform(raw: Any, where: str, errors: list[FieldError]) -> Transform | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        raw = {"type": raw}
    if not isinstance(raw, Mapping) or raw.get("type") not in TRANSFORMS:
        known = ", ".join(TRANSFORMS)
        errors.append(FieldError(where, "transform", f"{where} is one of {known} (enum: with a map)"))
        return None
    kind = cast(TransformKind, raw["type"])
    if kind != "enum":
        return Transform(kind)
    table = raw.get("map")
    if not isinstance(table, Mapping) or not table or not all(isinstance(v, str) for v in table.values()):
        errors.append(FieldError(f"{where}.map", "enum_map", f"{where}.map is an object of remote value: Noun value"))
        return None
    return Transform("enum", {str(k): v for k, v in table.items()})


def parse_mappings(noun: str, raw: Any) -> list[FieldMapping]:
    """``raw`` (a list of ``{remote, field, transform?, direction?}``) as mappings; shape errors only."""
    if not isinstance(raw, Sequence) or isinstance(raw, str | bytes):
        raise ValidationError.single("mappings", "type", f"the mappings of {noun} are a list of objects")
    out: list[FieldMapping] = []
    errors: list[FieldError] = []
    for i, item in enumerate(raw):
        where = f"{noun}[{i}]"
        if not isinstance(item, Mapping):
            errors.append(FieldError(where, "type", f"{where} is an object with remote and field"))
            continue
        remote, fname = item.get("remote"), item.get("field")
        direction = item.get("direction", "both")
        bad = False
        for key, value in (("remote", remote), ("field", fname)):
            if not isinstance(value, str) or not value.strip():
                errors.append(FieldError(f"{where}.{key}", "required", f"{where}.{key} is a field name"))
                bad = True
        if direction not in DIRECTIONS:
            errors.append(FieldError(f"{where}.direction", "direction", f"{where}.direction is both, pull or push"))
            bad = True
        unknown = sorted(set(item) - {"remote", "field", "transform", "direction"})
        if unknown:
            errors.append(FieldError(where, "unknown_key", f"{where} has no {', '.join(unknown)}"))
            bad = True
        before = len(errors)
        transform = _transform(item.get("transform"), f"{where}.transform", errors)
        if bad or len(errors) > before:
            continue
        out.append(FieldMapping(str(remote), camel_to_snake(str(fname)), transform, direction))
    if errors:
        raise ValidationError(f"invalid mappings of {noun}: " + "; ".join(e.message for e in errors), errors)
    return out


def validate(noun: Noun, mappings: Sequence[FieldMapping], remote: Sequence[RemoteField]) -> list[FieldMapping]:
    """Check ``mappings`` against the Noun and the provider's fields; return them with enum maps keyed by
    option values. Raises one ValidationError listing every problem (field ``Noun[i].remote`` etc.)."""
    by_name = {f.name: f for f in remote}
    errors: list[FieldError] = []
    out: list[FieldMapping] = []
    seen: set[str] = set()
    for i, m in enumerate(mappings):
        where = f"{noun.name}[{i}]"
        declared = noun.fields.get(m.field)
        rf = by_name.get(m.remote)
        if declared is None:
            errors.append(FieldError(f"{where}.field", "unknown_field", f"{noun.name} has no field {m.field!r}"))
            continue
        if declared.type == "relation":
            errors.append(FieldError(f"{where}.field", "relation", f"{noun.name}.{m.field} is a relation"))
            continue
        if m.field in seen:
            errors.append(FieldError(f"{where}.field", "duplicate", f"{noun.name}.{m.field} is mapped twice"))
            continue
        seen.add(m.field)
        if rf is None:
            errors.append(FieldError(f"{where}.remote", "unknown_remote_field", f"no remote field {m.remote!r}"))
            continue
        target = "list" if declared.many else declared.type
        if m.transform is None:
            fits = target in _AS_IS[rf.type]
            how = "as it comes"
        else:
            fits = m.transform.kind in _READS[rf.type] and target in _FILLS[m.transform.kind]
            how = f"through {m.transform.kind}"
        if not fits:
            errors.append(
                FieldError(
                    f"{where}.transform",
                    "type_mismatch",
                    f"{m.remote} ({rf.type}) {how} cannot fill {noun.name}.{m.field} ({target})",
                )
            )
            continue
        if m.transform is not None and m.transform.kind == "enum":
            fixed = _check_enum(noun, m, rf, target, declared.enum, where, errors)
            if fixed is None:
                continue
            m = FieldMapping(m.remote, m.field, fixed, m.direction)
        out.append(m)
    if errors:
        raise ValidationError(f"invalid mappings of {noun.name}: " + "; ".join(e.message for e in errors), errors)
    return out


def _check_enum(
    noun: Noun,
    m: FieldMapping,
    rf: RemoteField,
    target: str,
    values: tuple[str, ...],
    where: str,
    errors: list[FieldError],
) -> Transform | None:
    assert m.transform is not None
    by_label = {o.label: o.value for o in rf.options}
    known = {o.value for o in rf.options}
    table: dict[str, str] = {}
    for key, value in m.transform.map.items():
        key = key if key in known or not rf.options else by_label.get(key, key)
        if rf.options and key not in known:
            errors.append(FieldError(f"{where}.transform.map", "unknown_option", f"{m.remote} has no option {key!r}"))
            return None
        if target == "enum" and value not in values:
            allowed = " | ".join(values)
            errors.append(
                FieldError(f"{where}.transform.map", "enum_value", f"{noun.name}.{m.field} is {allowed}, not {value!r}")
            )
            return None
        table[key] = value
    return Transform("enum", table)
