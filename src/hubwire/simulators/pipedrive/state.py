"""The simulated Pipedrive company's data: persons, organizations, deals, leads and their fields.

Owns the records (integer ids, leads with UUIDs), custom fields keyed by 40-character hashes with
the ``personFields`` / ``organizationFields`` / ``dealFields`` metadata, soft deletion, and the two
wire shapes Pipedrive answers in: v1 (``"YYYY-MM-DD HH:MM:SS"`` times, ``email``/``phone`` lists,
related ids as ``{"value", "name"}`` objects, custom values at the top level) and v2 (RFC 3339
times, ``emails``/``phones``, plain ids, ``custom_fields``). Raises :class:`PipedriveError`; knows
nothing about HTTP.
"""

from __future__ import annotations

import hashlib
import itertools
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = ["ENTITIES", "PipedriveError", "PipedriveState", "parse_time"]

# path name -> (fields metadata path, name field, required fields)
ENTITIES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "persons": ("personFields", "name", ("name",)),
    "organizations": ("organizationFields", "name", ("name",)),
    "deals": ("dealFields", "title", ("title",)),
    "leads": ("dealFields", "title", ("title",)),  # leads share the deal fields, as in Pipedrive
}
_STANDARD: dict[str, tuple[str, ...]] = {
    "persons": ("name", "first_name", "last_name", "owner_id", "org_id", "email", "phone", "visible_to", "label"),
    "organizations": ("name", "owner_id", "address", "visible_to", "label"),
    "deals": (
        "title",
        "value",
        "currency",
        "person_id",
        "org_id",
        "owner_id",
        "stage_id",
        "pipeline_id",
        "status",
        "expected_close_date",
        "probability",
        "visible_to",
        "lost_reason",
    ),
    "leads": (
        "title",
        "owner_id",
        "person_id",
        "organization_id",
        "value",
        "expected_close_date",
        "label_ids",
        "visible_to",
        "was_seen",
        "is_archived",
    ),
}
# The field_type of a standard field in the fields metadata (varchar when not named here).
_STANDARD_TYPES = {
    "owner_id": "user",
    "org_id": "org",
    "person_id": "people",
    "email": "varchar",
    "phone": "phone",
    "visible_to": "visible_to",
    "label": "enum",
    "address": "address",
    "value": "monetary",
    "currency": "varchar_options",
    "stage_id": "stage",
    "pipeline_id": "double",
    "status": "status",
    "expected_close_date": "date",
    "probability": "double",
    "lost_reason": "varchar_options",
}
_V2_RENAMES = {"email": "emails", "phone": "phones", "label": "label_ids"}
_RELATED = {"org_id": "organizations", "person_id": "persons", "organization_id": "organizations"}
OWNER = {"id": 1, "name": "Simulated Owner", "email": "owner@hubwire.invalid", "value": 1}


class PipedriveError(Exception):
    """An error answer: HTTP ``status`` and Pipedrive's message (``errorCode`` is the status)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def parse_time(value: str) -> float:
    """Epoch seconds from Pipedrive's spellings: ``2024-01-31 10:00:00`` (UTC) or RFC 3339."""
    text = value.strip().replace(" ", "T").replace("Z", "+00:00")
    moment = datetime.fromisoformat(text)
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _v1_time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _v2_time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Record:
    id: int | str
    entity: str
    values: dict[str, Any]
    custom: dict[str, Any]
    added: float
    updated: float
    deleted: bool = False


@dataclass
class PipedriveState:
    """All records of one company; ``now`` is its clock (epoch seconds)."""

    now: Callable[[], float]
    records: dict[str, dict[int | str, Record]] = field(default_factory=lambda: {e: {} for e in ENTITIES})
    fields: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _field_ids: Iterator[int] = field(default_factory=lambda: itertools.count(9001))

    def __post_init__(self) -> None:
        for entity in ("persons", "organizations", "deals"):
            meta = ENTITIES[entity][0]
            self.fields.setdefault(meta, {})
            for name in _STANDARD[entity]:
                ftype = _STANDARD_TYPES.get(name, "varchar")
                self._field(meta, name, name.replace("_", " ").capitalize(), ftype, custom=False)

    # -- fields ---------------------------------------------------------------------------------

    def _field(self, meta: str, key: str, name: str, field_type: str, *, custom: bool) -> dict[str, Any]:
        stamp = _v1_time(self.now())
        made = {
            "id": next(self._field_ids),
            "key": key,
            "name": name,
            "field_type": field_type,
            "add_time": stamp,
            "update_time": stamp,
            "active_flag": True,
            "edit_flag": custom,
            "mandatory_flag": key in ("name", "title"),
            "bulk_edit_allowed": True,
            "filtering_allowed": True,
            "sortable_flag": True,
            "searchable_flag": custom,
            "important_flag": False,
            "options": None,
        }
        self.fields[meta][key] = made
        return made

    def add_field(self, entity: str, name: str, field_type: str = "varchar", options: list[str] | None = None) -> str:
        """A custom field, as made in Pipedrive's settings; returns its 40-character hash key."""
        meta = ENTITIES[entity][0]
        key = hashlib.sha1(f"{meta}:{name}:{len(self.fields[meta])}".encode()).hexdigest()
        made = self._field(meta, key, name, field_type, custom=True)
        if options:
            made["options"] = [{"id": i + 1, "label": label} for i, label in enumerate(options)]
        return key

    def _custom_keys(self, entity: str) -> set[str]:
        return {k for k, f in self.fields[ENTITIES[entity][0]].items() if f["edit_flag"]}

    # -- records --------------------------------------------------------------------------------

    def get(self, entity: str, ident: str | int) -> Record:
        key: int | str = ident if entity == "leads" else _int_id(ident)
        found = self.records[entity].get(key)
        if found is None or found.deleted:
            noun = {"persons": "Person", "organizations": "Organization", "deals": "Deal", "leads": "Lead"}[entity]
            raise PipedriveError(404, f"{noun} not found")
        return found

    def create(self, entity: str, body: dict[str, Any], *, v2: bool = False, at: float | None = None) -> Record:
        name_field = ENTITIES[entity][1]
        if not body.get(name_field):
            raise PipedriveError(400, f"{name_field.capitalize()} must be given.")
        if entity == "leads" and not (body.get("person_id") or body.get("organization_id")):
            raise PipedriveError(400, "A lead must be linked to a person or an organization.")
        values, custom = self._split(entity, body, v2=v2)
        stamp = self.now() if at is None else at
        ident: int | str = str(uuid.uuid4()) if entity == "leads" else next(self._ids)
        record = Record(ident, entity, values, custom, stamp, stamp)
        if entity == "deals":
            values.setdefault("status", "open")
            values.setdefault("currency", "USD")
        self.records[entity][ident] = record
        return record

    def update(self, entity: str, ident: str | int, body: dict[str, Any], *, v2: bool = False) -> Record:
        record = self.get(entity, ident)
        values, custom = self._split(entity, body, v2=v2)
        record.values.update(values)
        record.custom.update(custom)
        record.updated = self.now()
        return record

    def delete(self, entity: str, ident: str | int) -> Record:
        record = self.get(entity, ident)
        record.deleted = True
        record.updated = self.now()
        return record

    def _split(self, entity: str, body: dict[str, Any], *, v2: bool) -> tuple[dict[str, Any], dict[str, Any]]:
        """(standard values, custom values by hash key) of a write body; unknown keys are a 400, as Pipedrive's."""
        body = dict(body)
        custom_keys = self._custom_keys(entity)
        custom = dict(body.pop("custom_fields", None) or {}) if v2 else {}
        standard = set(_STANDARD[entity]) | {"add_time"}
        if v2:
            standard = {_V2_RENAMES.get(s, s) for s in standard}
        values: dict[str, Any] = {}
        for key, value in body.items():
            if key in custom_keys and not v2:
                custom[key] = value
            elif key in standard:
                canonical = next((k for k, v in _V2_RENAMES.items() if v == key), key) if v2 else key
                values[canonical] = _contacts(value) if canonical in ("email", "phone") else value
            else:
                raise PipedriveError(400, f"Unknown field: {key}")
        unknown = set(custom) - custom_keys
        if unknown:
            raise PipedriveError(400, f"Unknown custom field key(s): {', '.join(sorted(unknown))}")
        for key, target in _RELATED.items():
            if values.get(key) is not None:
                self.get(target, values[key])
        return values, custom

    def live(self, entity: str) -> list[Record]:
        return [r for r in self.records[entity].values() if not r.deleted]

    # -- wire shapes ----------------------------------------------------------------------------

    def v1(self, record: Record) -> dict[str, Any]:
        if record.entity == "leads":
            return self.lead(record)
        body: dict[str, Any] = {"id": record.id, **{k: None for k in _STANDARD[record.entity]}}
        body.update(record.values)
        for key in ("org_id", "person_id"):
            if body.get(key) is not None and key in _STANDARD[record.entity]:
                target = self.records[_RELATED[key]].get(_int_id(body[key]))
                body[key] = {"value": _int_id(body[key]), "name": target.values.get("name") if target else None}
        body["owner_id"] = OWNER
        for key in self._custom_keys(record.entity):
            body[key] = record.custom.get(key)
        body.update(
            add_time=_v1_time(record.added), update_time=_v1_time(record.updated), active_flag=not record.deleted
        )
        if record.entity == "persons":
            body.setdefault("email", [])
            body["email"] = body["email"] or [{"value": "", "primary": True}]
        return body

    def v2(self, record: Record) -> dict[str, Any]:
        body: dict[str, Any] = {"id": record.id}
        for key in _STANDARD[record.entity]:
            body[_V2_RENAMES.get(key, key)] = record.values.get(key)
        body["owner_id"] = OWNER["id"]
        body["custom_fields"] = {k: record.custom.get(k) for k in self._custom_keys(record.entity)}
        body.update(add_time=_v2_time(record.added), update_time=_v2_time(record.updated), is_deleted=record.deleted)
        return body

    def lead(self, record: Record) -> dict[str, Any]:
        body: dict[str, Any] = {"id": record.id, **{k: None for k in _STANDARD["leads"]}}
        body.update(record.values)
        body.update(
            owner_id=OWNER["id"],
            creator_id=OWNER["id"],
            label_ids=body["label_ids"] or [],
            was_seen=bool(body["was_seen"]),
            is_archived=bool(body["is_archived"]),
        )
        for key in self._custom_keys("leads"):
            body[key] = record.custom.get(key)
        moment = datetime.fromtimestamp(record.added, UTC)
        body["add_time"] = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
        moment = datetime.fromtimestamp(record.updated, UTC)
        body["update_time"] = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
        return body


def _int_id(value: Any) -> int:
    if isinstance(value, dict):
        value = value.get("value")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise PipedriveError(400, f"Invalid id: {value!r}") from None


def _contacts(value: Any) -> list[dict[str, Any]]:
    """Pipedrive takes an email or phone as a string, a list of strings or a list of ``{value, primary, label}``."""
    items = value if isinstance(value, list) else [value]
    out = []
    for i, item in enumerate(items):
        entry = {"value": item, "primary": i == 0, "label": "work"} if isinstance(item, str) else dict(item)
        entry.setdefault("primary", i == 0)
        entry.setdefault("label", "work")
        out.append(entry)
    return out
