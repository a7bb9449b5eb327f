"""Payload schemas of events: derived from a Noun, or given by code (a pydantic model or a JSON Schema).

A Noun event's ``data`` is the entity as its verb committed it: ``$id``, ``$type``, every field
of the Noun (``null`` when unset), ``created_at``, ``updated_at`` and ``version``.
:func:`noun_schema` writes that as JSON Schema (draft 2020-12) and :func:`noun_example` an
example that satisfies it. :class:`Payload` holds a registered event's schema and checks a
payload against it, naming each bad field. Pure: no I/O, no registry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import jsonschema
import pydantic

from hubwire.errors import FieldError, SchemaError, ValidationError

if TYPE_CHECKING:
    from hubwire.nouns.noun import Noun
    from hubwire.nouns.schema import Field

__all__ = ["DIALECT", "Payload", "example_of", "noun_example", "noun_schema"]

DIALECT = "https://json-schema.org/draft/2020-12/schema"
_EXAMPLE_TIME = "2026-01-15T09:30:00.000Z"
_EXAMPLE_ID = "Xq7Lm2Pz"  # 8 base62 characters, as every entity id has

_SCALARS: dict[str, dict[str, Any]] = {
    "string": {"type": "string"},
    "text": {"type": "string"},
    "number": {"type": "number"},
    "integer": {"type": "integer"},
    "boolean": {"type": "boolean"},
    "datetime": {"type": "string", "format": "date-time"},
    "json": {"description": "any JSON value"},
}


def _id_pattern(noun: str) -> str:
    return f"^{noun.lower()}_[0-9A-Za-z]+$"


def _one(f: Field) -> dict[str, Any]:
    if f.type == "enum":
        return {"enum": list(f.enum)}
    if f.type == "relation":
        assert f.target is not None
        return {"type": "string", "pattern": _id_pattern(f.target), "description": f"the id of a {f.target}"}
    return dict(_SCALARS[f.type])


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    if "enum" in schema:
        return {**schema, "enum": [*schema["enum"], None]}
    if isinstance(schema.get("type"), str):
        return {**schema, "type": [schema["type"], "null"]}
    return schema  # no type: null is already allowed


def field_schema(f: Field) -> dict[str, Any]:
    """One field as stored: a list when ``[]``, ``null`` allowed unless required (``!``)."""
    one = _one(f)
    schema = {"type": "array", "items": one} if f.many else one
    return schema if f.required else _nullable(schema)


def noun_schema(noun: Noun, event: str) -> dict[str, Any]:
    """The JSON Schema of the ``data`` of ``Noun.Event``: the entity with its metadata."""
    properties: dict[str, Any] = {
        "$id": {"type": "string", "pattern": _id_pattern(noun.name), "description": f"the {noun.name}'s id"},
        "$type": {"const": noun.name},
    }
    for name, f in noun.fields.items():
        properties[name] = field_schema(f)
    properties["created_at"] = {"type": "string", "format": "date-time"}
    properties["updated_at"] = {"type": "string", "format": "date-time"}
    properties["version"] = {"type": "integer", "minimum": 1, "description": "optimistic concurrency version"}
    return {
        "$schema": DIALECT,
        "title": f"{noun.name}.{event}",
        "description": f"The {noun.name} as the verb committed it (every field, null when unset).",
        "type": "object",
        "properties": properties,
        "required": list(properties),
    }


def _field_example(f: Field, moved_to: Any) -> Any:
    if moved_to is not None:
        one: Any = moved_to
    elif f.type == "enum":
        one = f.enum[0]
    elif f.type == "relation":
        assert f.target is not None
        one = f"{f.target.lower()}_{_EXAMPLE_ID}"
    else:
        one = {
            "string": f"example {f.name.replace('_', ' ')}",
            "text": f"Some {f.name.replace('_', ' ')}.",
            "number": 42.5,
            "integer": 42,
            "boolean": True,
            "datetime": _EXAMPLE_TIME,
            "json": {"key": "value"},
        }[f.type]
    return [one] if f.many else one


def noun_example(noun: Noun, verb: str) -> dict[str, Any]:
    """An example ``data`` of the event ``verb`` emits: a value per field, the verb's status move applied."""
    moves = getattr(noun, "verb_moves", {})
    moved_field, moved_value = moves.get(verb, (None, None))
    out: dict[str, Any] = {"$id": f"{noun.name.lower()}_{_EXAMPLE_ID}", "$type": noun.name}
    for name, f in noun.fields.items():
        out[name] = _field_example(f, moved_value if name == moved_field else None)
    version = 1 if verb == "create" else 2
    out.update(created_at=_EXAMPLE_TIME, updated_at=_EXAMPLE_TIME, version=version)
    return out


def example_of(schema: Mapping[str, Any], root: Mapping[str, Any] | None = None, depth: int = 0) -> Any:
    """A value for a JSON Schema: its own ``examples``/``default``/``const``/``enum`` first, else by type."""
    root = schema if root is None else root
    if depth > 8:
        return None
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, Mapping) else {}
        return example_of(target, root, depth + 1)
    for key in ("examples", "example", "default", "const", "enum"):
        if key in schema:
            value = schema[key]
            return value[0] if key in ("examples", "enum") and isinstance(value, list) and value else value
    for key in ("anyOf", "oneOf", "allOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            return example_of(options[0], root, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or (kind is None and "properties" in schema):
        props = schema.get("properties") or {}
        return {k: example_of(v, root, depth + 1) for k, v in props.items() if isinstance(v, Mapping)}
    if kind == "array":
        items = schema.get("items")
        return [example_of(items, root, depth + 1)] if isinstance(items, Mapping) else []
    if kind == "string":
        return _EXAMPLE_TIME if schema.get("format") == "date-time" else "string"
    return {"integer": 1, "number": 1.5, "boolean": True, "null": None}.get(str(kind))


@dataclass(frozen=True)
class Payload:
    """A registered event's payload schema and how a payload is checked against it."""

    schema: dict[str, Any]
    model: type[pydantic.BaseModel] | None = None

    @classmethod
    def of(cls, name: str, schema: type[pydantic.BaseModel] | Mapping[str, Any] | None) -> Payload:
        """From a pydantic model, a JSON Schema (checked now: a wrong one is a SchemaError), or nothing."""
        if schema is None:
            return cls({"$schema": DIALECT, "title": name, "type": "object"})
        if isinstance(schema, type) and issubclass(schema, pydantic.BaseModel):
            return cls({"$schema": DIALECT, **schema.model_json_schema()}, schema)
        if not isinstance(schema, Mapping):
            raise SchemaError(
                f"the schema of {name} must be a pydantic model or a JSON Schema dict, not {type(schema).__name__}",
                [FieldError("schema", "type", "a pydantic model class or a JSON Schema dict")],
                event=name,
            )
        doc = {"$schema": DIALECT, **dict(schema)}
        try:
            jsonschema.validators.validator_for(doc).check_schema(doc)
        except jsonschema.SchemaError as exc:
            raise SchemaError(
                f"the schema of {name} is not valid JSON Schema: {exc.message}",
                [FieldError("schema", "invalid", exc.message)],
                event=name,
            ) from None
        return cls(doc)

    def validate(self, name: str, data: Any) -> dict[str, Any]:
        """``data`` checked against the schema (a pydantic model's output form), or a ValidationError per field."""
        if not isinstance(data, Mapping):
            raise ValidationError.single("data", "type", f"the payload of {name} must be a JSON object", event=name)
        if self.model is not None:
            try:
                return self.model.model_validate(dict(data)).model_dump(mode="json")
            except pydantic.ValidationError as exc:
                errors = [
                    FieldError(".".join(str(p) for p in e["loc"]) or "data", e["type"], e["msg"]) for e in exc.errors()
                ]
                raise _invalid(name, errors) from None
        validator = jsonschema.validators.validator_for(self.schema)(self.schema)
        found = sorted(validator.iter_errors(dict(data)), key=lambda e: list(map(str, e.absolute_path)))
        if found:
            raise _invalid(name, [_field_error(e) for e in found])
        return dict(data)


def _field_error(err: jsonschema.ValidationError) -> FieldError:
    path = [str(p) for p in err.absolute_path]
    if err.validator == "required" and isinstance(err.instance, Mapping):
        # The error sits on the object; name the property that is missing.
        missing = [p for p in err.validator_value if p not in err.instance and repr(p) in err.message]
        path += missing[:1]
    return FieldError(".".join(path) or "data", str(err.validator), err.message)


def _invalid(name: str, errors: list[FieldError]) -> ValidationError:
    detail = "; ".join(f"{e.field}: {e.message}" for e in errors)
    return ValidationError(f"invalid payload for {name}: {detail}", errors, event=name)
