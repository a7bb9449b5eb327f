"""User field mappings of a connection: a Noun field filled from a provider field the defaults do not map.

An Integration's config ``field_mappings`` holds ``{"<Noun>.<field>": "<remote field>"}``: a
Salesforce custom field (``"Contact.lifecycleStage": "Tier__c"``) or a Pipedrive custom field by
its 40-character hash key (``"Contact.lifecycleStage": "9f3c...e1"``). The Noun field must be
declared and not a relation; the remote field must look like one of the provider's (its pattern).
A mapping replaces the default source of that Noun field. Validated when connecting (a clear
``ValidationError``), applied by every sync and write of the connection. Pure: no I/O.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from hubwire.connectors.spec import FieldMap
from hubwire.errors import FieldError, ValidationError
from hubwire.nouns.noun import Noun
from hubwire.nouns.schema import camel_to_snake

__all__ = ["FIELD_MAPPINGS", "apply_mappings", "mappings_for", "parse_field_mappings"]

FIELD_MAPPINGS = "field_mappings"


def parse_field_mappings(slug: str, raw: Any, nouns: Mapping[str, Noun], remote: re.Pattern[str]) -> dict[str, str]:
    """Check ``raw`` (the connect parameter, or its JSON from the CLI) and return it as ``{"Noun.field": "remote"}``."""
    if isinstance(raw, str):
        with contextlib.suppress(ValueError):
            raw = json.loads(raw)
    if not isinstance(raw, Mapping):
        raise ValidationError.single(
            FIELD_MAPPINGS, "type", f"{slug} field_mappings must be an object of 'Noun.field': 'remote field'"
        )
    out: dict[str, str] = {}
    errors: list[FieldError] = []
    for key, value in raw.items():
        noun_name, _, fname = str(key).partition(".")
        noun = nouns.get(noun_name)
        if noun is None:
            known = ", ".join(sorted(nouns))
            errors.append(FieldError(str(key), "unknown_noun", f"{slug} fills {known}, not {noun_name!r}"))
            continue
        declared = noun.fields.get(fname) or noun.fields.get(camel_to_snake(fname))
        if declared is None:
            errors.append(FieldError(str(key), "unknown_field", f"{noun_name} has no field {fname!r}"))
            continue
        if declared.type == "relation":
            errors.append(FieldError(str(key), "relation", f"{key} is a relation: the connector fills it"))
            continue
        if not isinstance(value, str) or not remote.fullmatch(value):
            errors.append(FieldError(str(key), "remote_field", f"{value!r} is not a {slug} field name"))
            continue
        out[f"{noun_name}.{declared.name}"] = value
    if errors:
        raise ValidationError(f"cannot connect {slug}: " + "; ".join(e.message for e in errors), errors, provider=slug)
    return out


def mappings_for(config: Mapping[str, Any], noun: str) -> dict[str, str]:
    """``{field: remote field}`` of one Noun from an Integration's config."""
    raw = config.get(FIELD_MAPPINGS) or {}
    prefix = noun + "."
    return {k[len(prefix) :]: v for k, v in raw.items() if k.startswith(prefix) and isinstance(v, str)}


def apply_mappings(mapping: FieldMap, user: Mapping[str, str], read: Any) -> FieldMap:
    """``mapping`` with each user-mapped field read by ``read(remote)`` (a field source) instead."""
    if not user:
        return mapping
    return replace(mapping, fields={**mapping.fields, **{f: read(remote) for f, remote in user.items()}})
