"""User field mappings of a connection: Noun fields filled from (and written to) provider fields.

An Integration's config ``field_mappings`` holds the current version of its mappings (the
versions themselves are :mod:`hubwire.mappings`'), per Noun a list of
:class:`~hubwire.mappings.model.FieldMapping` as JSON::

    {"Contact": [{"remote": "tier__c", "field": "lifecycleStage",
                  "transform": {"type": "enum", "map": {"gold": "customer"}}, "direction": "both"}]}

``connect`` still takes the first spelling, ``{"<Noun>.<field>": "<remote field>"}`` (a
Salesforce custom field ``"Contact.lifecycleStage": "Tier__c"``, a Pipedrive custom field by its
40-character hash key): :func:`parse_field_mappings` checks it (the Noun field declared, not a
relation; the remote name of the provider's shape) and stores it as the list spelling with no
transform (values copied as they come).

A mapping replaces the default source of its Noun field: a sync reads the remote field through
the transform (:func:`apply_mappings`), a write sends the Noun value back through its inverse
(:func:`written`) when the mapping pushes. What no mapping uses stays reachable in the Noun's
``remote_data`` (:func:`remote_data`). Pure: no I/O.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any

from hubwire.connectors.spec import FieldMap, FieldSource, dig
from hubwire.errors import FieldError, ValidationError
from hubwire.mappings.model import FieldMapping, parse_mappings
from hubwire.net.redact import redact
from hubwire.nouns.noun import Noun
from hubwire.nouns.schema import camel_to_snake

__all__ = [
    "FIELD_MAPPINGS",
    "REMOTE_DATA",
    "apply_mappings",
    "mapped_remotes",
    "mappings_for",
    "parse_field_mappings",
    "remote_data",
    "user_mappings",
    "written",
]

FIELD_MAPPINGS = "field_mappings"
REMOTE_DATA = "remote_data"


def parse_field_mappings(
    slug: str, raw: Any, nouns: Mapping[str, Noun], remote: re.Pattern[str]
) -> dict[str, list[dict[str, Any]]]:
    """Check ``raw`` (the connect parameter, or its JSON from the CLI) and return it as stored:
    ``{"Noun": [mapping, ...]}``. Takes ``{"Noun.field": "remote"}`` or the stored spelling."""
    if isinstance(raw, str):
        with contextlib.suppress(ValueError):
            raw = json.loads(raw)
    if not isinstance(raw, Mapping):
        raise ValidationError.single(
            FIELD_MAPPINGS, "type", f"{slug} field_mappings must be an object of 'Noun.field': 'remote field'"
        )
    out: dict[str, list[dict[str, Any]]] = {}
    errors: list[FieldError] = []
    for key, value in raw.items():
        noun_name, dot, fname = str(key).partition(".")
        noun = nouns.get(noun_name)
        if noun is None:
            known = ", ".join(sorted(nouns))
            errors.append(FieldError(str(key), "unknown_noun", f"{slug} fills {known}, not {noun_name!r}"))
            continue
        if not dot:  # the stored spelling: a Noun's list
            try:
                listed = parse_mappings(noun_name, value)
            except ValidationError as exc:
                errors += exc.errors
                continue
            pairs = [(f"{noun_name}.{m.field}", m) for m in listed]
        else:
            pairs = [(str(key), FieldMapping(str(value) if isinstance(value, str) else "", fname))]
        for where, m in pairs:
            declared = noun.fields.get(m.field) or noun.fields.get(camel_to_snake(m.field))
            if declared is None:
                errors.append(FieldError(where, "unknown_field", f"{noun_name} has no field {m.field!r}"))
            elif declared.type == "relation":
                errors.append(FieldError(where, "relation", f"{where} is a relation: the connector fills it"))
            elif not remote.fullmatch(m.remote):
                errors.append(FieldError(where, "remote_field", f"{m.remote!r} is not a {slug} field name"))
            else:
                out.setdefault(noun_name, []).append(replace(m, field=declared.name).to_json())
    if errors:
        raise ValidationError(f"cannot connect {slug}: " + "; ".join(e.message for e in errors), errors, provider=slug)
    return out


def user_mappings(config: Mapping[str, Any], noun: str) -> list[FieldMapping]:
    """The mappings of one Noun in an Integration's config (either spelling; what does not parse is none)."""
    raw = config.get(FIELD_MAPPINGS) or {}
    if not isinstance(raw, Mapping):
        return []
    if isinstance(raw.get(noun), list):
        with contextlib.suppress(ValidationError):
            return parse_mappings(noun, raw[noun])
        return []
    prefix = noun + "."
    return [
        FieldMapping(v, camel_to_snake(k[len(prefix) :]))
        for k, v in raw.items()
        if k.startswith(prefix) and isinstance(v, str)
    ]


def mappings_for(config: Mapping[str, Any], noun: str) -> dict[str, str]:
    """``{field: remote field}`` of one Noun's mappings that pull (what a sync must ask the provider for)."""
    return {m.field: m.remote for m in user_mappings(config, noun) if m.pulls}


def mapped_remotes(config: Mapping[str, Any], noun: str) -> set[str]:
    """The remote fields any mapping of the Noun uses (both directions)."""
    return {m.remote for m in user_mappings(config, noun)}


def _through(m: FieldMapping, src: FieldSource) -> FieldSource:
    if m.transform is None:
        return src
    if callable(src):
        return lambda record: m.read(src(record))
    return lambda record: m.read(dig(record, src))


def apply_mappings(
    mapping: FieldMap, user: Iterable[FieldMapping] | Mapping[str, str], read: Callable[[str], FieldSource]
) -> FieldMap:
    """``mapping`` with each pulled field read by ``read(remote)`` (a field source) through its transform."""
    items = [FieldMapping(r, f) for f, r in user.items()] if isinstance(user, Mapping) else list(user)
    fields = {m.field: _through(m, read(m.remote)) for m in items if m.pulls}
    if not fields:
        return mapping
    return replace(mapping, fields={**mapping.fields, **fields})


def written(config: Mapping[str, Any], noun: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """``{remote field: value}``: the Noun values the mappings write back, through the inverse transforms.

    A value without an inverse (a Noun value no enum map gives) is not written: the remote keeps its own.
    """
    out: dict[str, Any] = {}
    for m in user_mappings(config, noun):
        if m.pushes and m.field in values:
            value = m.write(values[m.field])
            if value is not None or values[m.field] is None:
                out[m.remote] = value
    return out


def remote_data(custom: Mapping[str, Any] | None, used: Iterable[str]) -> dict[str, Any] | None:
    """The remote (custom) fields with a value that no mapping ``used``; secrets masked; ``None`` for none."""
    if not custom:
        return None
    skip = set(used)
    left = {k: v for k, v in custom.items() if k not in skip and v not in (None, "")}
    return redact(left) if left else None
