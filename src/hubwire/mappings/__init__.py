"""Field mappings: per Integration and Noun, which provider field fills which Noun field, and how.

The SDK (the REST routes ``/v1/integrations/{id}/remote-fields`` and ``.../mappings``, and the CLI
``hubwire mappings``, call it)::

    fields = await hubwire.mappings.fields("integration_XXXXXXXX", noun="Contact")   # [RemoteField]
    await hubwire.mappings.set("integration_XXXXXXXX", "Contact", [
        {"remote": "tier__c", "field": "lifecycleStage",
         "transform": {"type": "enum", "map": {"gold": "customer", "silver": "lead"}}},
        {"remote": "renewal__c", "field": "note", "transform": "date", "direction": "pull"},
    ], by="ops")
    await hubwire.mappings.get("integration_XXXXXXXX")        # {"Contact": [...]}
    await hubwire.mappings.versions("integration_XXXXXXXX")   # [MappingVersion], newest first

What a mapping is and how it is checked: :mod:`hubwire.mappings.model`; how connectors apply
it: :mod:`hubwire.connectors.mappings`; the versions: :mod:`hubwire.mappings.history`.
"""

from __future__ import annotations

from typing import Any

from hubwire.mappings.history import MappingVersion
from hubwire.mappings.model import FieldMapping, Option, RemoteField, Transform

# The SDK loads on first use: connectors import the model from here, and the SDK imports them.
_SDK = {
    "fields": "remote_fields",
    "get": "get_mappings",
    "set": "set_mappings",
    "versions": "list_mapping_versions",
    "get_mappings": "get_mappings",
    "list_mapping_versions": "list_mapping_versions",
    "remote_fields": "remote_fields",
    "set_mappings": "set_mappings",
}


def __getattr__(name: str) -> Any:
    if name in _SDK:
        from hubwire.mappings import edit

        return getattr(edit, _SDK[name])
    raise AttributeError(f"module 'hubwire.mappings' has no attribute {name!r}")


__all__ = [
    "FieldMapping",
    "MappingVersion",
    "Option",
    "RemoteField",
    "Transform",
    "fields",
    "get",
    "get_mappings",
    "list_mapping_versions",
    "remote_fields",
    "set",
    "set_mappings",
    "versions",
]
