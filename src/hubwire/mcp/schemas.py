"""What the MCP tools take and what the Noun catalogue says, generated from the declared Nouns.

Read at every ``tools/list`` and resource read, never cached: a Noun declared after the server was
built (a user's module, a test) appears without code. Pure: no I/O, no database.
"""

from __future__ import annotations

from typing import Any

from hubwire.nouns.noun import Noun
from hubwire.nouns.schema import BUILTIN_VERBS, Field

__all__ = ["do_schema", "fetch_schema", "noun_catalogue", "public_verbs", "search_schema"]

_JSON_TYPES = {
    "string": "string",
    "text": "string",
    "datetime": "string",
    "relation": "string",
    "number": "number",
    "integer": "integer",
    "boolean": "boolean",
}
FILTER_LANGUAGE = (
    'a Mongo-like filter over the Noun\'s fields, e.g. {"status": "Active"}, {"value": {"$gte": 100}}, '
    '{"stage": {"$in": ["Open", "Closed"]}}; operators $eq $ne $gt $gte $lt $lte $in $nin $contains $exists, '
    "$and and $or over lists of filters"
)


def _nouns() -> list[Noun]:
    return sorted(Noun.registry.values(), key=lambda n: n.name)


def public_verbs(noun: Noun) -> list[str]:
    """The verbs a caller may run: the built-ins and the declared ones, not a Noun's internal verbs."""
    internal = set(getattr(noun, "internal_verbs", ()))
    return [v for v in noun.verbs if v not in internal]


def field_schema(f: Field) -> dict[str, Any]:
    """The JSON Schema of one field's value."""
    one: dict[str, Any]
    if f.type == "enum":
        one = {"type": "string", "enum": list(f.enum)}
    elif f.type == "json":
        one = {}
    else:
        one = {"type": _JSON_TYPES[f.type]}
    if f.type == "datetime":
        one["format"] = "date-time"
    if f.type == "relation":
        one["description"] = f"the id of a {f.target} ({(f.target or '').lower()}_...)"
    return {"type": "array", "items": one} if f.many else one


def _describe(noun: Noun) -> str:
    fields = ", ".join(f"{n}: {_kind(f)}" for n, f in noun.fields.items())
    verbs = ", ".join(public_verbs(noun))
    head = f"{noun.name}" + (f" ({noun.description})" if noun.description else "")
    return f"{head}: fields {fields}; verbs {verbs}"


def _kind(f: Field) -> str:
    base = " | ".join(f.enum) if f.type == "enum" else (f"-> {f.target}" if f.type == "relation" else f.type)
    return base + ("[]" if f.many else "") + ("!" if f.required else "")


def _type_property() -> dict[str, Any]:
    nouns = _nouns()
    return {
        "type": "string",
        "enum": [n.name for n in nouns],
        "description": "The Noun. " + " · ".join(_describe(n) for n in nouns),
    }


def search_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "type": _type_property(),
            "filter": {"type": "object", "description": FILTER_LANGUAGE},
            "limit": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 20},
            "cursor": {"type": ["string", "null"], "description": "next_cursor of the previous page"},
            "sort": {
                "type": ["string", "null"],
                "description": "a field, -field for descending (default created_at)",
            },
        },
        "required": ["type"],
        "additionalProperties": False,
    }


def fetch_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "id": {
                "type": "string",
                "description": (
                    "an entity id (integration_hV6nRxWm: the Noun is its prefix), an event (evt_...), "
                    "a sync run (syncrun_...), a webhook delivery (msg_...) or a job (job_42)"
                ),
            },
            "type": {**_type_property(), "description": "optional: the Noun the id must belong to"},
        },
        "required": ["id"],
        "additionalProperties": False,
    }


def do_schema() -> dict[str, Any]:
    verbs = sorted({v for n in _nouns() for v in public_verbs(n)})
    return {
        "type": "object",
        "properties": {
            "type": _type_property(),
            "verb": {
                "type": "string",
                "enum": verbs,
                "description": "create, update, delete or a Noun's own verb (Integration.connect, sync, disconnect)",
            },
            "id": {
                "type": ["string", "null"],
                "description": "the entity the verb acts on (all verbs but create; connect without one creates)",
            },
            "args": {
                "type": "object",
                "description": "the fields to set, or the verb's keywords (connect: provider and credentials)",
            },
            "version": {
                "type": ["integer", "null"],
                "description": "the version the entity must be at (optimistic concurrency)",
            },
        },
        "required": ["type", "verb"],
        "additionalProperties": False,
    }


def _moves(noun: Noun, verb: str) -> dict[str, Any]:
    move = noun.verb_moves.get(verb)
    return {"moves": {"field": move[0], "to": move[1]}} if move else {}


def noun_catalogue() -> dict[str, Any]:
    """Every Noun: its fields with their types, verbs with the events they emit, state machines."""
    out: dict[str, Any] = {}
    for noun in _nouns():
        out[noun.name] = {
            "description": noun.description,
            "plural": noun.plural,
            "id_prefix": noun.name.lower() + "_",
            "fields": {
                name: {
                    **field_schema(f),
                    "required": f.required,
                    "indexed": f.indexed,
                    "unique": f.unique,
                    **({"default": noun.defaults[name]} if name in noun.defaults else {}),
                }
                for name, f in noun.fields.items()
            },
            "verbs": {
                v: {
                    "event": f"{noun.name}.{noun.verbs[v].event}",
                    "hooks": [noun.verbs[v].before, noun.verbs[v].after],
                    "builtin": v in BUILTIN_VERBS,
                    **_moves(noun, v),
                }
                for v in public_verbs(noun)
            },
            "states": {
                fname: {src: sorted(dst) for src, dst in machine.moves.items()}
                for fname, machine in noun.machines.items()
            },
            "filter_aliases": noun.filter_aliases,
        }
    return out
