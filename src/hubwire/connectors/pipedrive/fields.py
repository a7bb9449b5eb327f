"""Pipedrive's field metadata (``GET /v1/personFields``, ``/organizationFields``, ``/dealFields``; leads
share the deal fields) and the user mappings on its records.

A field's ``key`` is its name here (a custom field's is a 40-character hash), its ``name`` the
label. ``field_type`` is normalised to :class:`~hubwire.mappings.model.RemoteField`: ``double``,
``monetary``, ``int`` -> number; ``date``; ``enum`` and ``status`` -> enum (options by id, whose
string is what records hold, and label); everything else (``varchar``, ``text``, ``phone``,
``address``, ``set``, the ids of ``user``, ``org``, ``people``...) -> string. Custom is
``edit_flag``; writable unless bulk editing is refused.

Custom values are in a v2 record's ``custom_fields`` and at the top level of a v1 lead: those no
mapping uses are the Noun's ``remote_data``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from hubwire.connectors.mappings import REMOTE_DATA, apply_mappings, mapped_remotes, remote_data, user_mappings
from hubwire.connectors.pipedrive.spec import custom_value
from hubwire.connectors.runtime import Connection
from hubwire.connectors.spec import FieldSource, Resource
from hubwire.mappings.model import Option, RemoteField, RemoteType

__all__ = ["METADATA", "list_fields", "mapped_resource", "to_remote_field"]

# Noun -> the fields metadata of the records that fill it.
METADATA = {
    "Organization": "organizationFields",
    "Contact": "personFields",
    "Deal": "dealFields",
    "Lead": "dealFields",
}
_TYPES: dict[str, RemoteType] = {
    "double": "number",
    "monetary": "number",
    "int": "number",
    "date": "date",
    "enum": "enum",
    "status": "enum",
}
_HASH = re.compile(r"[0-9a-f]{40}")
_PAGE = 500


def to_remote_field(meta: Mapping[str, Any]) -> RemoteField:
    kind = _TYPES.get(str(meta.get("field_type")), "string")
    options = tuple(
        Option(str(o["id"]), str(o.get("label") or o["id"]))
        for o in meta.get("options") or []
        if isinstance(o, dict) and o.get("id") is not None
    )
    key = str(meta["key"])
    return RemoteField(
        name=key,
        label=str(meta.get("name") or key),
        type=kind,
        options=options if kind == "enum" else (),
        custom=bool(meta.get("edit_flag")),
        writable=bool(meta.get("bulk_edit_allowed", True)),
    )


async def list_fields(conn: Connection, noun: str) -> list[RemoteField]:
    """Every field of the Noun's metadata, page by page (``start`` / ``limit``)."""
    path = f"/api/v1/{METADATA[noun]}"
    out: list[RemoteField] = []
    start = 0
    while True:
        resp = await conn.send("GET", path, params={"start": start, "limit": _PAGE})
        body = conn.json(resp, "GET", path)
        data = body.get("data") if isinstance(body, dict) else None
        out += [to_remote_field(f) for f in data or [] if isinstance(f, dict) and f.get("key")]
        pagination = ((body or {}).get("additional_data") or {}).get("pagination") or {}
        if not pagination.get("more_items_in_collection") or not data:
            return out
        start = int(pagination.get("next_start") or start + len(data))


def _custom(used: set[str]) -> FieldSource:
    def get(record: dict[str, Any]) -> Any:
        custom = record.get("custom_fields")
        if not isinstance(custom, dict):  # a v1 record (a lead): custom values at the top level
            custom = {k: v for k, v in record.items() if _HASH.fullmatch(k)}
        return remote_data(custom, used)

    return get


def mapped_resource(resource: Resource, config: Mapping[str, Any]) -> Resource:
    """The resource with the Integration's mappings applied and ``remote_data`` filled."""
    assert resource.mapping is not None
    noun = resource.mapping.noun
    mapping = apply_mappings(resource.mapping, user_mappings(config, noun), custom_value)
    fields = {**mapping.fields, REMOTE_DATA: _custom(mapped_remotes(config, noun))}
    return replace(resource, mapping=replace(mapping, fields=fields))
