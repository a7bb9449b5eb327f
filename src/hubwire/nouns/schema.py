"""The compact schema language of Nouns, parsed once at declaration time.

``'string!'`` required · ``'string#'`` indexed · ``'string##'`` unique and indexed ·
``'Open | Won | Lost'`` an enum · ``'-> Contact'`` a relation · ``'string[]'`` a list ·
``'Closed'`` (one capitalised word that is not a type) declares a custom verb and its event.

This module only parses and validates values; it never touches the database.
"""

from __future__ import annotations

import builtins
import functools
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hubwire.errors import FieldError, SchemaError
from hubwire.nouns.values import check_json, check_number, check_text, shown

__all__ = [
    "RESERVED_FIELDS",
    "SCALAR_TYPES",
    "Field",
    "Schema",
    "VerbDecl",
    "camel_to_snake",
    "parse_datetime",
    "parse_schema",
]

SCALAR_TYPES = frozenset({"string", "text", "number", "integer", "boolean", "datetime", "json"})
# Types spelled by other schema dialects that mean one of ours.
_ALIASES = {"int": "integer", "float": "number", "bool": "boolean", "date": "datetime", "object": "json"}
_IDENT = re.compile(r"^[a-z][a-z0-9_]*$")
_NOUN_NAME = re.compile(r"^[A-Z][A-Za-z0-9]*$")
_VERB_EVENT = re.compile(r"^[A-Z][A-Za-z]*$")
_ENUM_VALUE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.\-]*$")
_CAMEL = re.compile(r"(?<=[a-z0-9])([A-Z])")


@functools.lru_cache(maxsize=4096)
def camel_to_snake(name: str) -> str:
    """``providerUrl`` -> ``provider_url``; snake_case passes through (cached: every field of every record)."""
    return _CAMEL.sub(r"_\1", name).lower()


# The Python types whose values :meth:`Field.check` returns unchanged, per field type, by exact
# type (a bool is not an int here, a float may be NaN): a caller may store such a value as it is.
_UNCHANGED: dict[str, frozenset[type]] = {
    "string": frozenset({str}),
    "text": frozenset({str}),
    "number": frozenset({int}),
    "integer": frozenset({int}),
    "boolean": frozenset({bool}),
    "json": frozenset({str, int, bool}),
}


@dataclass(frozen=True)
class Field:
    name: str
    type: str  # one of SCALAR_TYPES, "enum" or "relation"
    required: bool = False
    indexed: bool = False
    unique: bool = False
    many: bool = False
    enum: tuple[str, ...] = ()
    target: str | None = None  # the related Noun's name for relations
    # Types of values already in their stored form (see _UNCHANGED); none for lists.
    unchanged: frozenset[builtins.type] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "unchanged", frozenset() if self.many else _UNCHANGED.get(self.type, frozenset()))

    @property
    def sortable_kind(self) -> str:
        """How the database should compare values: ``num``, ``bool`` or ``text``."""
        if self.many or self.type == "json":
            return "json"
        if self.type in ("number", "integer"):
            return "num"
        if self.type == "boolean":
            return "bool"
        return "text"

    def check(self, value: Any, *, coerce: bool = False) -> tuple[Any, FieldError | None]:
        """Validate one value; return the stored form or a field error."""
        if value is None:
            if self.required:
                return None, FieldError(self.name, "required", f"{self.name} is required")
            return None, None
        if not self.many:
            return self._check_one(value, coerce)
        if coerce and isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list | tuple):
            return None, FieldError(self.name, "type", f"{self.name} must be a list")
        out = []
        for item in value:
            one, err = self._check_one(item, coerce)
            if err is not None:
                return None, err
            out.append(one)
        return out, None

    def _check_one(self, value: Any, coerce: bool) -> tuple[Any, FieldError | None]:
        t = self.type
        name = self.name
        if value is None:
            return None, FieldError(name, "type", f"{name} must not contain null")
        if t in ("string", "text"):
            if isinstance(value, str):
                return value, check_text(name, value)
            if coerce and isinstance(value, int | float) and not isinstance(value, bool):
                return str(value), None
            return None, FieldError(name, "type", f"{name} must be a string")
        if t in ("number", "integer"):
            if coerce and isinstance(value, str):
                try:
                    value = int(value) if re.fullmatch(r"-?\d+", value.strip()) else float(value)
                except ValueError:
                    return None, FieldError(name, "type", f"{name} must be a number")
            if isinstance(value, bool) or not isinstance(value, int | float):
                return None, FieldError(name, "type", f"{name} must be a number")
            err = check_number(name, value)
            if err is not None:
                return None, err
            if t == "integer" and isinstance(value, float):
                if not value.is_integer():
                    return None, FieldError(name, "type", f"{name} must be an integer")
                value = int(value)
            return value, None
        if t == "boolean":
            if coerce and isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
                return value.lower() in ("true", "1", "yes"), None
            if not isinstance(value, bool):
                return None, FieldError(name, "type", f"{name} must be true or false")
            return value, None
        if t == "datetime":
            return _check_datetime(name, value)
        if t == "enum":
            if value not in self.enum:
                allowed = ", ".join(self.enum)
                return None, FieldError(name, "enum", f"{name} must be one of: {allowed}")
            return value, None
        if t == "relation":
            ref = value.get("$id") if isinstance(value, dict) else getattr(value, "id", value)
            assert self.target is not None
            prefix = self.target.lower() + "_"
            if not isinstance(ref, str) or not ref.startswith(prefix) or len(ref) <= len(prefix):
                return None, FieldError(name, "relation", f"{name} must be the id of a {self.target} ({prefix}...)")
            return ref, check_text(name, ref)
        # json: anything JSON can hold, within the limits every value keeps (hubwire.nouns.values)
        err = check_json(name, value)
        return (None, err) if err is not None else (value, None)


def parse_datetime(name: str, value: Any) -> datetime | FieldError:
    """An aware datetime in UTC from ISO 8601 text, a datetime or epoch seconds; within years 1..9999 in UTC."""
    try:
        if isinstance(value, datetime):
            dt = value
        elif isinstance(value, str):
            dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            dt = datetime.fromtimestamp(value, UTC)
        else:
            return FieldError(name, "type", f"{name} must be an ISO 8601 date-time")
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        return dt.astimezone(UTC)
    except (ValueError, OverflowError, OSError):
        # fromisoformat refuses bad text; out of range (1e300, "0001-01-01T00:00:00+23:59") overflows
        return FieldError(name, "type", f"{shown(name)} must be an ISO 8601 date-time within years 1..9999 (UTC)")


def _check_datetime(name: str, value: Any) -> tuple[Any, FieldError | None]:
    dt = parse_datetime(name, value)
    if isinstance(dt, FieldError):
        return None, dt
    return dt.isoformat().replace("+00:00", "Z"), None


@dataclass(frozen=True)
class VerbDecl:
    """A custom verb: ``close`` emits ``Closed``; hooks ``closing`` (before) and ``closed`` (after)."""

    verb: str
    event: str
    before: str
    after: str


@dataclass
class Schema:
    fields: dict[str, Field] = field(default_factory=dict)
    verbs: dict[str, VerbDecl] = field(default_factory=dict)


def conjugate(verb: str, event: str) -> VerbDecl:
    """Derive the hook names of a verb from the verb and its event, as the seed does.

    ``connect/Connected`` -> ``connecting/connected``; ``close/Closed`` -> ``closing``;
    ``cancel/Cancelled`` -> ``cancelling``; ``sync/Synced`` -> ``syncing``.
    """
    past = event[0].lower() + event[1:]
    if verb.endswith("e") and not verb.endswith("ee"):
        gerund = verb[:-1] + "ing"
    elif past.endswith("ed") and past[:-2] != verb and past[:-2].startswith(verb):
        gerund = past[:-2] + "ing"  # doubled final consonant: cancelled -> cancelling
    else:
        gerund = verb + "ing"
    return VerbDecl(verb=verb, event=event, before=gerund, after=past)


BUILTIN_VERBS = {
    "create": conjugate("create", "Created"),
    "update": conjugate("update", "Updated"),
    "delete": conjugate("delete", "Deleted"),
}


# Every entity's own metadata, set by Hubwire alone; ``id`` stays declarable (read as ``entity["id"]``).
RESERVED_FIELDS = frozenset({"version", "created_at", "updated_at"})


def parse_schema(noun: str, decl: dict[str, str]) -> Schema:
    if not _NOUN_NAME.match(noun):
        raise SchemaError(f"Noun name {noun!r} must be CapitalisedCamelCase", noun=noun)
    schema = Schema()
    errors: list[FieldError] = []
    for raw_name, spec in decl.items():
        name = camel_to_snake(raw_name)
        if not _IDENT.match(name):
            errors.append(FieldError(raw_name, "name", f"{raw_name!r} is not a valid field name"))
            continue
        if name in RESERVED_FIELDS:  # Hubwire keeps them on every entity: a declared one could never be set
            errors.append(FieldError(raw_name, "reserved", f"{raw_name!r} is kept by Hubwire on every entity"))
            continue
        if not isinstance(spec, str) or not spec.strip():
            errors.append(FieldError(name, "type", f"{name}: a declaration must be a non-empty string"))
            continue
        text = spec.strip()
        if _VERB_EVENT.match(text) and text.lower() not in SCALAR_TYPES and text.lower() not in _ALIASES:
            if name in BUILTIN_VERBS or name in ("get", "find"):
                errors.append(FieldError(name, "verb", f"{name} is a built-in verb and cannot be redeclared"))
                continue
            schema.verbs[name] = conjugate(name, text)
            continue
        try:
            schema.fields[name] = _parse_field(name, text)
        except SchemaError as exc:
            errors.append(FieldError(name, "type", exc.message))
    if errors:
        raise SchemaError(f"Invalid declaration of {noun}: " + "; ".join(e.message for e in errors), errors)
    return schema


def _parse_field(name: str, text: str) -> Field:
    mods = ""
    while text and text[-1] in "!#?":
        mods = text[-1] + mods
        text = text[:-1].rstrip()
    required = "!" in mods
    unique = "##" in mods
    indexed = "#" in mods
    many = False
    if text.endswith("[]"):
        many = True
        text = text[:-2].strip()
    elif text.startswith("[") and text.endswith("]"):
        many = True
        text = text[1:-1].strip()
    if text.startswith("->"):
        target = text[2:].strip()
        if not _NOUN_NAME.match(target):
            raise SchemaError(f"{name}: relation target {target!r} is not a Noun name")
        return Field(name, "relation", required, indexed or unique, unique, many, target=target)
    if "|" in text:
        values = tuple(v.strip() for v in text.split("|"))
        if any(not _ENUM_VALUE.match(v) for v in values) or len(set(values)) != len(values):
            raise SchemaError(f"{name}: invalid enum {text!r}")
        return Field(name, "enum", required, indexed or unique, unique, many, enum=values)
    base = _ALIASES.get(text, text)
    if base not in SCALAR_TYPES:
        raise SchemaError(f"{name}: unknown type {text!r} (known: {', '.join(sorted(SCALAR_TYPES))})")
    if (unique or indexed) and (many or base == "json"):
        raise SchemaError(f"{name}: lists and json fields cannot be indexed")
    return Field(name, base, required, indexed or unique, unique, many)
