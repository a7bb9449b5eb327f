"""Salesforce's field metadata (``GET /services/data/vNN.0/sobjects/{SObject}/describe``) and the user
mappings on its sObjects.

Describe types are normalised to :class:`~hubwire.mappings.model.RemoteField`: ``int``,
``double``, ``currency``, ``percent`` -> number; ``date`` and ``datetime`` as they are;
``boolean``; ``picklist`` -> enum with its active ``picklistValues``; everything else (``string``,
``email``, ``phone``, ``url``, ``textarea``, ``id``, ``reference``, ``multipicklist``...) -> string.
Custom is describe's ``custom`` (names ending in ``__c``); writable is ``updateable``.

A sync selects the custom fields too: those no mapping uses are the Noun's ``remote_data``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from hubwire.connectors.mappings import REMOTE_DATA, apply_mappings, mapped_remotes, remote_data, user_mappings
from hubwire.connectors.spec import FieldSource, Resource
from hubwire.mappings.model import Option, RemoteField, RemoteType

__all__ = ["is_custom", "mapped_resource", "to_remote_field"]

_TYPES: dict[str, RemoteType] = {
    "int": "number",
    "double": "number",
    "currency": "number",
    "percent": "number",
    "date": "date",
    "datetime": "datetime",
    "boolean": "boolean",
    "picklist": "enum",
}


def is_custom(name: str) -> bool:
    return name.endswith("__c")


def to_remote_field(described: Mapping[str, Any]) -> RemoteField:
    kind = _TYPES.get(str(described.get("type")), "string")
    options = tuple(
        Option(str(v["value"]), str(v.get("label") or v["value"]))
        for v in described.get("picklistValues") or []
        if isinstance(v, dict) and v.get("value") is not None and v.get("active", True)
    )
    name = str(described["name"])
    return RemoteField(
        name=name,
        label=str(described.get("label") or name),
        type=kind,
        options=options if kind == "enum" else (),
        custom=bool(described.get("custom", is_custom(name))),
        writable=bool(described.get("updateable")),
    )


def _custom(used: set[str]) -> FieldSource:
    def get(record: dict[str, Any]) -> Any:
        return remote_data({k: v for k, v in record.items() if is_custom(k)}, used)

    return get


def mapped_resource(resource: Resource, config: Mapping[str, Any]) -> Resource:
    """The sObject's resource with the Integration's mappings applied and ``remote_data`` filled."""
    assert resource.mapping is not None
    noun = resource.mapping.noun
    mapping = apply_mappings(resource.mapping, user_mappings(config, noun), str)
    fields = {**mapping.fields, REMOTE_DATA: _custom(mapped_remotes(config, noun))}
    return replace(resource, mapping=replace(mapping, fields=fields))
