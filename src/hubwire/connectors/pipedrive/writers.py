"""Write-through to Pipedrive: CRM verbs create and update its records.

While a Pipedrive Integration is connected, ``create`` of an Organization, Contact, Deal or Lead
sends ``POST`` (to the only active Pipedrive Integration, unless its config says
``write_creates: false``), and ``update`` and the Deal verbs (``win``, ``lose``, ``reopen``:
``status`` won / lost / open) send ``PATCH`` for an entity linked to one (v2 for organizations,
persons and deals, v1 for leads). The entity takes the record Pipedrive answers with, and its ref
is saved in the verb's transaction (:mod:`hubwire.connectors.writethrough`). A Pipedrive error
raises before anything is written. Custom fields go by their hash keys (``field_mappings``): in
``custom_fields`` for v2, at the top level for v1. A disqualified Lead is archived; requalified,
unarchived.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from hubwire.connectors.mappings import user_mappings, written
from hubwire.connectors.pipedrive.provider import Pipedrive
from hubwire.connectors.pipedrive.spec import DEALS, LEADS, ORGANIZATIONS, PERSONS
from hubwire.connectors.runtime import Connection, to_incoming
from hubwire.connectors.spec import Resource
from hubwire.connectors.writethrough import changed_fields, remote_ids, take_answer, target
from hubwire.domains import crm
from hubwire.errors import ConfigurationError
from hubwire.nouns.noun import Noun

if TYPE_CHECKING:
    from hubwire.hub import Hub
    from hubwire.nouns.verbs import VerbCall

__all__ = ["install_writers", "write"]

CUSTOM_KEY = re.compile(r"[0-9a-f]{40}")  # a custom field's key; a standard one is a word

SLUG = Pipedrive.slug
RESOURCE_OF: dict[str, Resource] = {"Organization": ORGANIZATIONS, "Contact": PERSONS, "Deal": DEALS, "Lead": LEADS}
# Noun field -> Pipedrive key, per Noun (relations: the id field; the rest are written by _special).
WRITES: dict[str, dict[str, str]] = {
    "Organization": {"name": "name"},
    "Contact": {"first_name": "first_name", "last_name": "last_name", "organization": "org_id"},
    "Deal": {
        "name": "title",
        "amount": "value",
        "currency": "currency",
        "close_date": "expected_close_date",
        "probability": "probability",
        "organization": "org_id",
        "contact": "person_id",
    },
    "Lead": {"name": "title", "organization": "organization_id", "contact": "person_id"},
}
_STATUS = {"Open": "open", "Won": "won", "Lost": "lost"}


def _provider(hub: Hub) -> Pipedrive:
    prov = hub.providers.get(SLUG)
    if not isinstance(prov, Pipedrive):
        raise ConfigurationError("the pipedrive provider registered on this hub is not Hubwire's", provider=SLUG)
    return prov


def _contacts(values: list[str]) -> list[dict[str, Any]]:
    return [{"value": v, "primary": i == 0, "label": "work"} for i, v in enumerate(values)]


async def to_record(
    conn: Connection, noun: Noun, values: Mapping[str, Any], entity: Mapping[str, Any], *, creating: bool
) -> dict[str, Any]:
    """Noun field values (those to write, of ``entity`` as it will be) as a Pipedrive body: relations as
    the linked records' ids, custom fields by hash."""
    # A field the user mapped goes to its mapped field (through the inverse transform), not the default one.
    user = {m.field for m in user_mappings(conn.ctx.config, noun.name)}
    writes = {f: k for f, k in WRITES[noun.name].items() if f not in user}
    relations = [f for f in writes if f in values and noun.fields[f].type == "relation" and values[f]]
    linked = await remote_ids(conn.ctx.hub, str(conn.ctx.integration.id), [values[f] for f in relations])
    body: dict[str, Any] = {}
    for fname, value in values.items():
        key = writes.get(fname)
        if key is None:
            continue
        if fname in relations:
            if values[fname] in linked:
                body[key] = _int(linked[values[fname]])
        else:
            body[key] = value
    if noun is crm.Contact:
        if "emails" in values or "email" in values:  # Pipedrive replaces the list: send all of it
            emails = list(entity.get("emails") or [])
            primary = entity.get("email")
            if primary:
                emails = [primary, *[e for e in emails if e != primary]]
            body["emails"] = _contacts(emails)
        if "phones" in values:
            body["phones"] = _contacts(list(values["phones"] or []))
        if creating:
            name = " ".join(str(values[k]) for k in ("first_name", "last_name") if values.get(k))
            body["name"] = name or values.get("email") or "(no name)"
    if noun is crm.Deal:
        if "status" in values:
            body["status"] = _STATUS.get(str(values["status"]), "open")
        if values.get("stage") and str(values["stage"]).isdigit():
            body["stage_id"] = int(values["stage"])
    if noun is crm.Lead and "status" in values:
        body["is_archived"] = values["status"] == "Disqualified"
    mapped = written(conn.ctx.config, noun.name, values)
    custom = {k: v for k, v in mapped.items() if CUSTOM_KEY.fullmatch(k)}
    body.update({k: v for k, v in mapped.items() if k not in custom})  # a standard key the user mapped
    if custom:
        if noun is crm.Lead:
            body.update(custom)
        else:
            body["custom_fields"] = custom
    return body


def _int(rid: str) -> int | str:
    return int(rid) if rid.isdigit() else rid


async def write(call: VerbCall) -> None:
    """The writer on the CRM Nouns (see the module's docstring)."""
    if call.source == SLUG or call.verb == "delete":
        return
    creating = call.verb == "create"
    tgt = await target(call.hub, SLUG, call.id, noun=call.noun.name, creating=creating)
    if tgt is None:
        return
    prov = _provider(call.hub)
    conn = prov.connection(tgt.ctx)
    resource = prov.mapped(tgt.ctx.config, RESOURCE_OF[call.noun.name])
    if creating:
        values = {k: v for k, v in call.proposed.fields().items() if v is not None}
        if call.noun is crm.Lead and values.get("status") == "New":
            values.pop("status")
        body = await to_record(conn, call.noun, values, call.proposed, creating=True)
        answer = await conn.call(resource.create, body=body)  # type: ignore[arg-type]
    else:
        body = await to_record(conn, call.noun, changed_fields(call), call.proposed, creating=False)
        if not body:
            return
        answer = await conn.call(resource.update, remote_id=tgt.remote_id, body=body)  # type: ignore[arg-type]
    record = (answer or {}).get("data") if isinstance(answer, dict) else None
    inc = to_incoming(resource, record) if isinstance(record, dict) else None
    if inc is not None:
        await take_answer(call, tgt.integration_id, inc, resource.name)


def install_writers() -> None:
    """Register the writer on the CRM Nouns (idempotent)."""
    for noun in (crm.Organization, crm.Contact, crm.Deal, crm.Lead):
        if write not in noun.writers:
            noun.add_writer(write)
