"""Write-through to Salesforce: CRM verbs create and update sObjects, one at a time or in composite batches.

While a Salesforce Integration is connected, ``Organization`` / ``Contact`` / ``Deal`` / ``Lead``
``create`` sends ``POST /sobjects/{type}`` (to the only active Salesforce Integration, unless its
config says ``write_creates: false``), and ``update`` and the Deal verbs (``win``, ``lose``,
``reopen``) send ``PATCH /sobjects/{type}/{id}`` for an entity linked to one; the record is then
read back and the entity takes Salesforce's values (its ref saved in the verb's transaction,
:mod:`hubwire.connectors.writethrough`). A Salesforce error (``REQUIRED_FIELD_MISSING``,
``DUPLICATE_VALUE``...) raises ``ProviderInvalidRequest`` with its code before anything is written.

A Deal's ``status`` is written as its stage (Salesforce derives IsWon / IsClosed from it): the
config's ``won_stage`` (default "Closed Won"), ``lost_stage`` ("Closed Lost"), ``open_stage``
("Prospecting"), unless the verb sets ``stage`` itself. A Lead's status is Salesforce's (lead
conversion is its own operation): it is not written. :func:`push` writes many entities with the
composite ``sobjects`` API, 200 records a request.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from hubwire.connectors.mappings import user_mappings, written
from hubwire.connectors.runtime import to_incoming
from hubwire.connectors.salesforce.provider import Salesforce, SalesforceConnection
from hubwire.connectors.salesforce.spec import SOBJECTS, SObject
from hubwire.connectors.writethrough import PushResult, changed_fields, context_of, remote_ids, take_answer, target
from hubwire.domains import crm
from hubwire.domains.platform import Integration
from hubwire.errors import ConfigurationError, ValidationError
from hubwire.nouns.noun import Noun
from hubwire.sync.state import Ref, save_refs
from hubwire.sync.upsert import fingerprint

if TYPE_CHECKING:
    from hubwire.hub import Hub
    from hubwire.nouns.verbs import VerbCall

__all__ = ["PushResult", "install_writers", "push", "write"]

SLUG = Salesforce.slug
BY_NOUN: dict[str, SObject] = {s.resource.mapping.noun: s for s in SOBJECTS}  # type: ignore[union-attr]
COMPOSITE_MAX = 200
_STAGE_OF = {
    "Won": ("won_stage", "Closed Won"),
    "Lost": ("lost_stage", "Closed Lost"),
    "Open": ("open_stage", "Prospecting"),
}


def _provider(hub: Hub) -> Salesforce:
    prov = hub.providers.get(SLUG)
    if not isinstance(prov, Salesforce):
        raise ConfigurationError("the salesforce provider registered on this hub is not Hubwire's", provider=SLUG)
    return prov


async def to_sobject(
    conn: SalesforceConnection, noun: Noun, sobject: SObject, values: Mapping[str, Any]
) -> dict[str, Any]:
    """Noun field values as the sObject's fields: relations as the linked records' ids, status as a stage."""
    config = conn.ctx.config
    # A field the user mapped goes to its mapped field (through the inverse transform), not the default one.
    user = {m.field for m in user_mappings(config, noun.name)}
    writes = {f: r for f, r in sobject.writes.items() if f not in user}
    relations = [f for f in writes if f in values and noun.fields[f].type == "relation" and values[f]]
    linked = await remote_ids(conn.ctx.hub, str(conn.ctx.integration.id), [values[f] for f in relations])
    body: dict[str, Any] = {}
    for fname, value in values.items():
        remote = writes.get(fname)
        if fname == "phones" and noun is crm.Contact:
            body["Phone"] = value[0] if value else None
        elif remote is None:
            continue
        elif fname in relations:
            if values[fname] in linked:
                body[remote] = linked[values[fname]]
        else:
            body[remote] = value
    body.update(written(config, noun.name, values))
    if noun is crm.Deal and "status" in values and "stage" not in values:
        key, default = _STAGE_OF[str(values["status"] or "Open")]
        body["StageName"] = config.get(key) or default
    return body


async def _read_back(conn: SalesforceConnection, prov: Salesforce, sobject: SObject, rid: str) -> Any:
    record = await conn.request("GET", f"/sobjects/{sobject.name}/{rid}")
    return to_incoming(prov.sobject_resource(conn.ctx.config, sobject), {**record, "deleted": False})


async def write(call: VerbCall) -> None:
    """The writer on the CRM Nouns (see the module's docstring)."""
    if call.source == SLUG or call.verb == "delete":
        return
    sobject = BY_NOUN[call.noun.name]
    creating = call.verb == "create"
    tgt = await target(call.hub, SLUG, call.id, noun=call.noun.name, creating=creating)
    if tgt is None:
        return
    prov = _provider(call.hub)
    conn = await prov.connect_to(tgt.ctx)
    if creating:
        values = {k: v for k, v in call.proposed.fields().items() if v is not None}
        if call.noun is crm.Deal and values.get("status") == "Open" and values.get("stage"):
            values.pop("status")  # the default status of a new deal: its stage says where it is
        body = await to_sobject(conn, call.noun, sobject, values)
        made = await conn.request("POST", f"/sobjects/{sobject.name}", body=body)
        rid = str(made["id"])
    else:
        assert tgt.remote_id is not None
        rid = tgt.remote_id
        body = await to_sobject(conn, call.noun, sobject, changed_fields(call))
        if not body:
            return
        await conn.request("PATCH", f"/sobjects/{sobject.name}/{rid}", body=body)
    inc = await _read_back(conn, prov, sobject, rid)
    if inc is not None:
        await take_answer(call, tgt.integration_id, inc, sobject.resource.name)


async def push(hub: Hub, integration_id: str, noun: Noun, entity_ids: Sequence[str]) -> PushResult:
    """Write many entities to Salesforce with the composite API: new ones created, linked ones updated.

    Each batch of up to 200 is one request (``allOrNone`` false: a refused record does not stop
    the others); the created records are linked to their entities. Returns what was written.
    """
    prov = _provider(hub)
    sobject = BY_NOUN.get(noun.name)
    if sobject is None:
        raise ValidationError.single("noun", "not_synced", f"Salesforce does not hold {noun.name}s", provider=SLUG)
    integration = await Integration.get(integration_id)
    conn = await prov.connect_to(await context_of(hub, integration))
    entities = [await noun.get(eid) for eid in entity_ids]
    linked = await remote_ids(hub, integration_id, [e.id for e in entities])
    result = PushResult()
    for creating in (True, False):
        todo = [e for e in entities if (e.id in linked) != creating]
        for start in range(0, len(todo), COMPOSITE_MAX):
            chunk = todo[start : start + COMPOSITE_MAX]
            records = []
            for e in chunk:
                values = {k: v for k, v in e.fields().items() if v is not None}
                record = {"attributes": {"type": sobject.name}, **await to_sobject(conn, noun, sobject, values)}
                if not creating:
                    record["id"] = linked[e.id]
                records.append(record)
            answers = await conn.request(
                "POST" if creating else "PATCH", "/composite/sobjects", body={"allOrNone": False, "records": records}
            )
            refs: list[Ref] = []
            for e, answer in zip(chunk, answers or [], strict=False):
                if not answer.get("success"):
                    errs = answer.get("errors") or [{}]
                    result.errors[e.id] = f"{errs[0].get('statusCode')}: {errs[0].get('message')}"
                    continue
                result[e.id] = str(answer["id"])
                if creating:
                    # Linked now; the hash is left empty so the next sync takes Salesforce's view of the record.
                    ref = Ref(sobject.resource.name, str(answer["id"]), noun.name, e.id, fingerprint({}), e.version)
                    refs.append(ref)
            if refs:
                async with hub.transaction() as tx:
                    await save_refs(tx, integration_id, refs)
    return result


def install_writers() -> None:
    """Register the writer on the CRM Nouns (idempotent)."""
    for noun in (crm.Organization, crm.Contact, crm.Deal, crm.Lead):
        if write not in noun.writers:
            noun.add_writer(write)
