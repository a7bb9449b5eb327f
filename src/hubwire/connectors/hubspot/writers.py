"""Write-through: Contact, Organization, Deal and Lead verbs call HubSpot first, then commit what HubSpot answered.

While a HubSpot integration is connected, ``create`` of a Contact, Organization, Deal or Lead
creates the HubSpot object (with its associations: a Contact's organization, a Deal's or a Lead's
organization and contact, which must be synced with HubSpot; HubSpot makes a lead only with its
contact), and a verb that changes a linked entity (``update``, ``Deal.win`` / ``lose`` /
``reopen``, ``Lead.qualify`` / ``disqualify``) PATCHes the properties that changed and moves
associations whose relation changed. A Deal's status is its stage: ``win`` writes the first won
stage (``closedwon``), ``lose`` the first lost one, ``reopen`` the config's ``open_stage``
(default ``appointmentscheduled``), unless the verb names a stage itself. A Lead's status is its
lead pipeline stage (``qualified-stage-id``, ``unqualified-stage-id``, ``new-stage-id``).

The entity takes the values HubSpot stored for what was written (``"5000"`` comes back as the
number 5000.0) and its external ref is saved in the verb's transaction with the hash a sync would
compute, so the next sync sees it unchanged. A HubSpot error raises before anything is written:
409 (a contact with that email exists) is a ``ConflictError`` naming the existing object; other
refusals are ``ProviderInvalidRequest`` with HubSpot's message and category.

Which Integration a verb goes to is :func:`hubwire.connectors.writethrough.target`'s, as for
Salesforce and Pipedrive: an update to the HubSpot integration the entity is linked with, a create
to the only active one unless its config says ``write_creates: false`` (with several, the create
stays local), and none for a Noun the Integration pushes through the outbox. The writers do
nothing for verbs run by a HubSpot sync or webhook, for an entity HubSpot does not know (created
before connecting), and on delete (local only: archiving in HubSpot is done in HubSpot). HubSpot
answers a write with the properties written, not the whole object, so the entity takes those
(and what HubSpot derives from them) rather than :func:`~hubwire.connectors.writethrough.take_answer`'s
whole mapped record.

:func:`push` writes many entities at once, as Salesforce's does with its composite API: HubSpot's
``/crm/v3/objects/{type}/batch/create`` and ``/batch/update``, 100 inputs a request. HubSpot's
batch answer maps back to the entities (``objectWriteTraceId`` for a create, the id for an
update; a 207's ``errors[]`` by ``context.ids`` / ``objectWriteTraceId``). Every create input
carries its entity id as ``objectWriteTraceId``, which turns on HubSpot's multi-status error
handling: a create batch with refused inputs is answered 207, the others written. A batch HubSpot
refuses as a whole (a 4xx: an update, or a create refused for the batch itself, is all or nothing)
is sent again one input per request, so that each refused entity gets its own error and the
others are written.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from hubwire.connectors.hubspot.connection import BATCH, HubSpotConnection
from hubwire.connectors.hubspot.provider import HubSpot
from hubwire.connectors.hubspot.spec import HUBSPOT, LEAD_STAGE, LOST_STAGES, OBJECT_TYPE, WON_STAGES
from hubwire.connectors.mappings import REMOTE_DATA, user_mappings, written
from hubwire.connectors.writethrough import PushResult, changed_fields, context_of, remote_ids, target
from hubwire.domains.crm import Contact, Deal, Lead, Organization
from hubwire.domains.platform import Integration
from hubwire.errors import (
    ConfigurationError,
    ConflictError,
    ProviderInvalidRequest,
    ProviderNotFound,
    ValidationError,
)
from hubwire.nouns.entity import Entity
from hubwire.nouns.noun import Noun
from hubwire.sync.state import Ref, load_refs, remote_id_of, save_refs
from hubwire.sync.upsert import fingerprint, to_epoch

if TYPE_CHECKING:
    from hubwire.hub import Hub
    from hubwire.nouns.verbs import VerbCall
    from hubwire.store.transaction import Tx

__all__ = ["install_writers", "properties_of", "push"]

_RESOURCE = {"Organization": "company", "Contact": "contact", "Deal": "deal", "Lead": "lead"}
# Noun field -> the HubSpot property it is written to (fields not here are HubSpot's: read only).
_PROPERTY: dict[str, dict[str, str]] = {
    "Organization": {
        "name": "name",
        "domain": "domain",
        "website": "website",
        "industry": "industry",
        "employees": "numberofemployees",
        "phone": "phone",
        "city": "city",
        "country": "country",
        "description": "description",
        "owner": "hubspot_owner_id",
    },
    "Contact": {
        "first_name": "firstname",
        "last_name": "lastname",
        "email": "email",
        "title": "jobtitle",
        "lifecycle_stage": "lifecyclestage",
        "owner": "hubspot_owner_id",
    },
    "Deal": {
        "name": "dealname",
        "amount": "amount",
        "currency": "deal_currency_code",
        "stage": "dealstage",
        "close_date": "closedate",
        "owner": "hubspot_owner_id",
    },
    "Lead": {"name": "hs_lead_name", "owner": "hubspot_owner_id"},
}
# Relation field -> (HubSpot object type, HUBSPOT_DEFINED association type id from this object to it).
_ASSOCIATION: dict[str, dict[str, tuple[str, str, int]]] = {
    "Organization": {},
    "Contact": {"organization": ("company", "companies", 279)},
    "Deal": {"organization": ("company", "companies", 341), "contact": ("contact", "contacts", 3)},
    "Lead": {"organization": ("company", "companies", 610), "contact": ("contact", "contacts", 578)},
}
# Noun fields a sync derives from several properties (or another one): taken back after a write of any.
_DERIVED: dict[str, dict[str, tuple[str, ...]]] = {
    "Organization": {},
    "Contact": {"emails": ("email",), "phones": ("phone", "mobilephone")},
    "Deal": {"status": ("dealstage",)},
    "Lead": {"status": ("hs_pipeline_stage",)},
}
_EXISTING = re.compile(r"Existing ID:\s*(\d+)")


def properties_of(noun: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """HubSpot properties of Noun fields (``emails`` gives ``email``; ``phones``: ``phone``, ``mobilephone``)."""
    out: dict[str, Any] = {}
    table = _PROPERTY[noun]
    for name, value in values.items():
        if name in table:
            out[table[name]] = "" if value is None else value  # HubSpot clears a property set to ""
        elif noun == "Contact" and name == "emails" and values.get("email") is None:
            out["email"] = (value or [""])[0]
        elif noun == "Lead" and name == "status" and value in LEAD_STAGE:
            out["hs_pipeline_stage"] = LEAD_STAGE[value]
        elif noun == "Contact" and name == "phones":
            phones = list(value or [])
            out["phone"] = phones[0] if phones else ""
            out["mobilephone"] = phones[1] if len(phones) > 1 else ""
    return out


async def _remote(conn: HubSpotConnection, entity_id: Any, field: str) -> str:
    """The HubSpot id of a related entity, which must be synced with this integration."""
    rid = await remote_id_of(conn.ctx.hub, conn.ctx.integration.id, str(entity_id))
    if rid is None:
        raise ValidationError.single(
            field, "not_linked", f"{field} {entity_id} is not in HubSpot (not synced with it): it cannot be associated"
        )
    return rid


def _stage_for(conn: HubSpotConnection, status: Any) -> str:
    config = conn.ctx.config
    if status == "Won":
        return str((config.get("won_stages") or sorted(WON_STAGES))[0])
    if status == "Lost":
        return str((config.get("lost_stages") or sorted(LOST_STAGES))[0])
    return str(config.get("open_stage") or "appointmentscheduled")


async def _refused(conn: HubSpotConnection, exc: ProviderInvalidRequest, noun: str) -> Exception:
    """HubSpot's 409 as a ConflictError naming the existing object (and its local entity, when synced)."""
    if exc.provider_status != 409:
        return exc
    found = _EXISTING.search(exc.message)
    fields: dict[str, Any] = {"provider": HubSpot.slug, "noun": noun}
    if found:
        fields["remote_id"] = found.group(1)
        async with conn.ctx.hub.read() as db:
            refs = await load_refs(db, conn.ctx.integration.id, _RESOURCE[noun], [found.group(1)])
        if found.group(1) in refs:
            fields["existing_id"] = refs[found.group(1)].entity_id
    return ConflictError(f"HubSpot refused the {noun.lower()}: {exc.message}", code="provider_conflict", **fields)


async def _write(call: VerbCall) -> None:
    if call.source == HubSpot.slug or call.verb == "delete":
        return
    noun = call.noun.name
    resource = _RESOURCE[noun]
    hub = call.hub
    creating = call.verb == "create"
    tgt = await target(hub, HubSpot.slug, call.id, noun=noun, creating=creating)
    if tgt is None:
        return
    prov = tgt.ctx.provider
    if not isinstance(prov, HubSpot):
        return
    conn, rid = prov.connection(tgt.ctx), tgt.remote_id
    if creating:
        changed = {k: v for k, v in call.proposed.fields().items() if v is not None}
    else:
        changed = changed_fields(call)
        if not changed:
            return
    if noun == "Deal" and "status" in changed and "stage" not in changed:
        changed["stage"] = _stage_for(conn, changed["status"])
    props = _properties(conn, noun, changed)
    kind = OBJECT_TYPE[resource]
    obj: dict[str, Any]
    try:
        if rid is None:
            if noun == "Deal":
                props.setdefault("dealstage", _stage_for(conn, call.proposed.get("status")))
                props.setdefault("pipeline", "default")
            associations = await _associations(conn, noun, call.proposed)
            body: dict[str, Any] = {"properties": props}
            if associations:
                body["associations"] = associations
            path = f"/crm/v3/objects/{kind}"
            obj = conn.object(await conn.send("POST", path, body=body), "POST", path)
            rid = str(obj["id"])
        else:
            obj = {"id": rid, "properties": {}}
            if props:
                path = f"/crm/v3/objects/{kind}/{rid}"
                obj = conn.object(await conn.send("PATCH", path, body={"properties": props}), "PATCH", path)
            for fname, (_, to_kind, _) in _ASSOCIATION[noun].items():
                if fname not in changed:
                    continue
                old = call.current.get(fname) if call.current is not None else None
                if old:
                    old_rid = await remote_id_of(hub, conn.ctx.integration.id, str(old))
                    if old_rid is not None:
                        await conn.dissociate(resource, rid, to_kind, old_rid)
                if changed[fname]:
                    await conn.associate(resource, rid, to_kind, await _remote(conn, changed[fname], fname))
    except ProviderInvalidRequest as exc:
        raise await _refused(conn, exc, noun) from None
    _take(call, conn, resource, obj, props)
    call.in_tx.append(_link(conn.ctx.integration.id, resource, rid, call.noun, obj))


def _properties(conn: HubSpotConnection, noun: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """The HubSpot properties of Noun field values; a field the user mapped goes to its mapped
    property (through the inverse transform), not the default one."""
    user = {m.field for m in user_mappings(conn.ctx.config, noun)}
    props = properties_of(noun, {k: v for k, v in values.items() if k not in user})
    props.update({p: "" if v is None else v for p, v in written(conn.ctx.config, noun, values).items()})
    return props


async def _associations(conn: HubSpotConnection, noun: str, values: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A create's associations: its relations, whose entities must be synced with HubSpot."""
    out = []
    for fname, (_, _, type_id) in _ASSOCIATION[noun].items():
        if values.get(fname):
            to = await _remote(conn, values[fname], fname)
            spec = {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}
            out.append({"to": {"id": to}, "types": [spec]})
    return out


async def push(hub: Hub, integration_id: str, noun: Noun, entity_ids: Sequence[str]) -> PushResult:
    """Write many entities to HubSpot with its batch API: new ones created, linked ones updated.

    Each batch of up to 100 inputs is one request; the created objects are linked to their
    entities (the ref's hash left empty, so the next sync takes HubSpot's view of them). An entity
    HubSpot refuses (or whose relation is not in HubSpot) is in ``errors`` with the reason, and
    does not stop the others. Returns what was written (see the module's docstring).
    """
    resource = _RESOURCE.get(noun.name)
    if resource is None:
        raise ValidationError.single("noun", "not_synced", f"HubSpot does not hold {noun.name}s", provider=HubSpot.slug)
    integration = await Integration.get(integration_id)
    ctx = await context_of(hub, integration)
    if not isinstance(ctx.provider, HubSpot):
        raise ConfigurationError(f"{integration_id} is not a HubSpot integration", provider=HubSpot.slug)
    conn = ctx.provider.connection(ctx)
    entities = [await noun.get(eid) for eid in entity_ids]
    linked = await remote_ids(hub, integration_id, [e.id for e in entities])
    result = PushResult()
    for creating in (True, False):
        inputs: list[tuple[str, dict[str, Any]]] = []
        for e in entities:
            if (e.id in linked) == creating:
                continue
            try:
                inputs.append((e.id, await _input(conn, noun.name, e, None if creating else linked[e.id])))
            except ValidationError as exc:  # a relation HubSpot does not have: this entity only
                result.errors[e.id] = exc.message
        made: list[Ref] = []
        for start in range(0, len(inputs), BATCH):
            written_ = await _batch(conn, resource, creating, inputs[start : start + BATCH], result)
            made += [
                Ref(resource, rid, noun.name, eid, fingerprint({}), next(e.version for e in entities if e.id == eid))
                for eid, rid in written_.items()
                if creating
            ]
        if made:
            async with hub.transaction() as tx:
                await save_refs(tx, integration_id, made)
    return result


async def _input(conn: HubSpotConnection, noun: str, entity: Entity, rid: str | None) -> dict[str, Any]:
    """One entity as a batch input: its properties, and for a create its associations and trace id."""
    values = {k: v for k, v in entity.fields().items() if v is not None}
    if noun == "Deal" and "status" in values and "stage" not in values:
        values["stage"] = _stage_for(conn, values["status"])
    props = _properties(conn, noun, values)
    if rid is not None:
        return {"id": rid, "properties": props}
    if noun == "Deal":
        props.setdefault("pipeline", "default")
    item: dict[str, Any] = {"properties": props, "objectWriteTraceId": entity.id}
    associations = await _associations(conn, noun, values)
    if associations:
        item["associations"] = associations
    return item


async def _batch(
    conn: HubSpotConnection,
    resource: str,
    creating: bool,
    inputs: list[tuple[str, dict[str, Any]]],
    result: PushResult,
) -> dict[str, str]:
    """One batch request; ``entity id -> HubSpot id`` of those written, the refused in ``result.errors``."""
    path = f"/crm/v3/objects/{OBJECT_TYPE[resource]}/batch/{'create' if creating else 'update'}"
    try:
        answer = conn.json(await conn.send("POST", path, body={"inputs": [i for _, i in inputs]}), "POST", path)
    except (ProviderInvalidRequest, ProviderNotFound) as exc:  # refused (a 4xx), not failed: nothing written
        if len(inputs) == 1:
            result.errors[inputs[0][0]] = exc.message
            return {}
        # All or nothing: HubSpot refused the whole batch for some of its inputs; each alone says which.
        alone: dict[str, str] = {}
        for one in inputs:
            alone.update(await _batch(conn, resource, creating, [one], result))
        return alone
    by_key = {(i.get("objectWriteTraceId") if creating else i.get("id")): eid for eid, i in inputs}
    done: dict[str, str] = {}
    for obj in (answer or {}).get("results") or []:
        eid = by_key.get(obj.get("objectWriteTraceId") if creating else str(obj.get("id")))
        if eid is not None:
            done[eid] = result[eid] = str(obj["id"])
    for err in (answer or {}).get("errors") or []:  # a 207 multi-status: the refused inputs
        context = err.get("context") or {}
        keys = [*(context.get("ids") or []), *(context.get("objectWriteTraceId") or [])]
        if err.get("objectWriteTraceId"):
            keys.append(err["objectWriteTraceId"])
        for key in keys:
            eid = by_key.get(str(key))
            if eid is not None and eid not in done:
                result.errors[eid] = f"{err.get('category') or 'error'}: {err.get('message')}"
    for eid, _ in inputs:
        if eid not in done and eid not in result.errors:
            result.errors[eid] = "HubSpot's batch answer did not include it"
    return done


def _take(call: VerbCall, conn: HubSpotConnection, resource: str, obj: dict[str, Any], written: dict[str, Any]) -> None:
    """Put into the entity the values HubSpot stored for the properties written (as a sync maps them)."""
    prov = conn.ctx.provider
    assert isinstance(prov, HubSpot)
    inc = prov.prepared(conn.ctx, resource, obj)
    if inc is None:
        return
    answered = obj.get("properties") or {}
    user = {m.field: m.remote for m in user_mappings(conn.ctx.config, call.noun.name) if m.pulls}
    table = {f: p for f, p in _PROPERTY[call.noun.name].items() if f not in user}
    fields = [f for f, p in {**table, **user}.items() if p in written and p in answered]
    # Fields HubSpot derives from what was written, as a sync maps them.
    fields += [f for f, props in _DERIVED[call.noun.name].items() if any(p in written for p in props)]
    taken = {f: inc.fields.get(f) for f in fields}
    call.proposed.update(call.noun.validate(taken, partial=True))


def _link(integration_id: str, resource: str, remote_id: str, noun: Noun, obj: dict[str, Any]) -> Any:
    """Save the entity's external ref in the verb's transaction, hashed as a sync would hash it."""

    async def save(tx: Tx, entity: Entity) -> None:
        mapped = {n: entity.get(n) for n in _mapped(noun)}
        digest = fingerprint({k: v for k, v in mapped.items() if v is not None})
        ref = Ref(resource, remote_id, noun.name, entity.id, digest, entity.version, to_epoch(obj.get("updatedAt")))
        await save_refs(tx, integration_id, [ref])

    return save


def _mapped(noun: Noun) -> list[str]:
    mapping = HUBSPOT.resource(_RESOURCE[noun.name]).mapping
    assert mapping is not None
    return [*mapping.fields, *mapping.relations, REMOTE_DATA]  # as a sync maps it (hubspot.fields)


def install_writers() -> None:
    """Register the writer on Contact, Organization, Deal and Lead (idempotent: never added twice)."""
    for noun in (Organization, Contact, Deal, Lead):
        if _write not in noun.writers:
            noun.add_writer(_write)
