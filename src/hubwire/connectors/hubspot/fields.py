"""HubSpot's field metadata (``GET /crm/v3/properties/{objectType}``) and the user mappings on its objects.

Properties are normalised to :class:`~hubwire.mappings.model.RemoteField`: ``string`` (and
phone numbers, text areas...) -> string, ``number`` -> number, ``date`` / ``datetime`` as
they are, ``bool`` -> boolean, ``enumeration`` -> enum with its options (a ``booleancheckbox``
enumeration is a boolean); custom = not ``hubspotDefined``; writable unless its value is read-only.

A sync asks for the default properties (``spec.PROPERTIES``), the mapped ones and the portal's
custom properties (:func:`wanted_properties`, one metadata call per object type per sync run or
webhook batch, kept in the context's ``memo``): the custom ones no mapping uses are the Noun's
``remote_data``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import replace
from typing import Any

from hubwire.connectors.hubspot.connection import HubSpotConnection
from hubwire.connectors.hubspot.spec import HUBSPOT, OBJECT_TYPE, PROPERTIES
from hubwire.connectors.mappings import REMOTE_DATA, apply_mappings, mapped_remotes, remote_data, user_mappings
from hubwire.connectors.spec import FieldSource, Resource
from hubwire.mappings.model import Option, RemoteField, RemoteType

__all__ = ["RESOURCE_OF_NOUN", "list_properties", "mapped_resource", "to_remote_field", "wanted_properties"]

# Noun -> the resource that fills it.
RESOURCE_OF_NOUN = {r.mapping.noun: r.name for r in HUBSPOT.resources if r.mapping is not None}

_TYPES: dict[str, RemoteType] = {
    "string": "string",
    "phone_number": "string",
    "number": "number",
    "date": "date",
    "datetime": "datetime",
    "bool": "boolean",
    "enumeration": "enum",
}


def to_remote_field(prop: Mapping[str, Any]) -> RemoteField:
    kind = _TYPES.get(str(prop.get("type")), "string")
    if kind == "enum" and prop.get("fieldType") == "booleancheckbox":
        kind = "boolean"
    options = tuple(
        Option(str(o.get("value")), str(o.get("label") or o.get("value")))
        for o in prop.get("options") or []
        if isinstance(o, dict) and o.get("value") is not None and not o.get("hidden")
    )
    meta = prop.get("modificationMetadata") or {}
    return RemoteField(
        name=str(prop["name"]),
        label=str(prop.get("label") or prop["name"]),
        type=kind,
        options=options if kind == "enum" else (),
        custom=not prop.get("hubspotDefined"),
        writable=not meta.get("readOnlyValue") and not prop.get("calculated"),
    )


async def list_properties(conn: HubSpotConnection, resource: str) -> list[RemoteField]:
    """The live properties of the resource's object type."""
    path = f"/crm/v3/properties/{OBJECT_TYPE[resource]}"
    body = conn.json(await conn.send("GET", path), "GET", path)
    results = body.get("results") if isinstance(body, dict) else None
    return [to_remote_field(p) for p in results or [] if isinstance(p, dict) and p.get("name")]


async def wanted_properties(conn: HubSpotConnection, resources: Collection[str]) -> dict[str, tuple[str, ...]]:
    """Per resource, the properties reads ask for beyond the defaults: the mapped and the custom ones."""
    out: dict[str, tuple[str, ...]] = {}
    for noun, name in RESOURCE_OF_NOUN.items():
        if name not in resources:
            continue
        customs = [f.name for f in await list_properties(conn, name) if f.custom]
        extra = dict.fromkeys([*sorted(mapped_remotes(conn.ctx.config, noun)), *customs])
        out[name] = tuple(p for p in extra if p not in PROPERTIES[name])
    return out


def _property(name: str) -> FieldSource:
    def get(record: dict[str, Any]) -> Any:
        props = record.get("properties")
        value = props.get(name) if isinstance(props, dict) else None
        return None if value == "" else value

    return get


def _custom(used: set[str], resource: str) -> FieldSource:
    defaults = set(PROPERTIES[resource])

    def get(record: dict[str, Any]) -> Any:
        props = record.get("properties")
        if not isinstance(props, dict):
            return None
        return remote_data({k: v for k, v in props.items() if k not in defaults}, used)

    return get


# The mapped resources of the last configs seen: a sync maps every record with the same config object
# (held here, so its id cannot be reused while cached).
_RECENT: dict[tuple[str, int], tuple[Mapping[str, Any], Resource]] = {}
_RECENT_MAX = 32


def mapped_resource(resource: Resource, config: Mapping[str, Any]) -> Resource:
    """The resource with the Integration's mappings applied and ``remote_data`` filled."""
    key = (resource.name, id(config))
    hit = _RECENT.get(key)
    if hit is not None and hit[0] is config:
        return hit[1]
    if len(_RECENT) >= _RECENT_MAX:
        _RECENT.clear()
    made = _mapped(resource, config)
    _RECENT[key] = (config, made)
    return made


def _mapped(resource: Resource, config: Mapping[str, Any]) -> Resource:
    assert resource.mapping is not None
    noun = resource.mapping.noun
    mapping = apply_mappings(resource.mapping, user_mappings(config, noun), _property)
    used = mapped_remotes(config, noun)
    fields = {**mapping.fields, REMOTE_DATA: _custom(used, resource.name)}
    return replace(resource, mapping=replace(mapping, fields=fields))
