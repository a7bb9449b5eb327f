"""The review queue: list, show and resolve the conflicts syncs recorded.

Resolving decides every parked field: ``take="local"`` or ``"remote"`` for all of them, and/or
``values={field: value}`` for some. The decision is applied to both sides:

1. the provider first, for each field whose outcome differs from the remote value and that the
   provider can write (:meth:`Provider.pushable`): ONE update through :meth:`Provider.push`, the
   call the push outbox makes, but synchronously, so that a provider's refusal raises here and
   nothing is written (the conflict stays open, the caller sees why);
2. then ONE transaction: the entity updated through the verb pipeline (hooks, ``X.Updated``;
   run as the provider's source, so write-through writers do not send it a second time), the
   ref's base moved to what the provider now holds (the next sync sees no change), the conflict
   row resolved with who (an API key's name, or ``system``), when and why, and
   ``Conflict.Resolved`` appended.

A resolved conflict is never resolved again (409 ``conflict_resolved``).
"""

from __future__ import annotations

import builtins
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import sqlalchemy as sa

from hubwire.connectors.registry import Provider, ProviderContext, PushCall
from hubwire.domains.platform import Integration
from hubwire.errors import ConflictError, FieldError, NotFoundError, ValidationError
from hubwire.hub import current_hub
from hubwire.nouns import verbs
from hubwire.nouns.noun import Noun
from hubwire.nouns.verbs import acting_as
from hubwire.store.events import iso
from hubwire.store.tables import conflicts
from hubwire.sync import conflicts as queue_rows
from hubwire.sync.conflicts import RESOLVED, Conflict
from hubwire.sync.state import DIVERGED, Ref, ref_of, save_refs
from hubwire.sync.upsert import fingerprint, resolve_links, stored_base
from hubwire.vault.credentials import load_credentials

if TYPE_CHECKING:
    from hubwire.hub import Hub
    from hubwire.nouns.entity import Entity
    from hubwire.store.transaction import Tx

__all__ = ["STATUSES", "get_conflict", "list_conflicts", "resolve_conflict"]

STATUSES = ("open", "resolved")


@dataclass
class _Linked:
    """A conflict's entity with its ref (base loaded), and its Integration's provider and context."""

    noun: Noun
    entity: Entity
    ref: Ref
    provider: Provider
    context: ProviderContext


async def _linked(hub: Hub, integration_id: str, entity_id: str) -> _Linked | None:
    """The entity, ref and provider context of ``entity_id`` at ``integration_id``; None without a ref."""
    async with hub.read() as conn:
        ref = await ref_of(conn, integration_id, entity_id)
    noun = Noun.registry.get(ref.entity_type) if ref is not None else None
    if ref is None or noun is None:
        return None
    integration = await Integration.load(hub, integration_id)
    provider = hub.providers.get(integration["provider"])
    creds = await load_credentials(hub, integration_id)
    ctx = ProviderContext(hub, provider, integration, creds, dict(integration.get("config") or {}))
    return _Linked(noun, await noun.load(hub, entity_id), ref, provider, ctx)


async def _push(link: _Linked, conflict: Conflict, values: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """Send ``values`` through :meth:`Provider.push` (an update); the new base: ``base`` under its answer."""
    digest = hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()[:16]
    key = f"hubwire-{link.context.integration.id}-{link.entity.id}-conflict-{conflict.id}-{digest}"
    call = PushCall(link.noun, "update", link.entity.id, link.entity, values, link.ref.remote_id, key)
    pushed = await link.provider.push(link.context, call)
    if pushed is None:
        return base
    await resolve_links(link.context.hub, link.context.integration.id, [pushed.record])
    return {k: v for k, v in {**base, **pushed.record.fields}.items() if v is not None}


async def _settle(tx: Tx, link: _Linked, base: Mapping[str, Any], entity: Entity) -> None:
    """Save the ref with ``base`` in ``tx``: it agrees with ``entity`` unless a field differs (then DIVERGED)."""
    ref = link.ref
    ref.base = {k: v for k, v in base.items() if v is not None}
    ref.hash = fingerprint(ref.base)
    pushable = link.provider.pushable(ref.resource)
    stored = {n: None for n in pushable if n in link.noun.fields} | stored_base(link.noun, ref.base)
    agrees = all(entity.get(f) == v for f, v in stored.items() if f in link.noun.fields)
    ref.entity_version = entity.version if agrees else DIVERGED
    await save_refs(tx, link.context.integration.id, [ref])


async def list_conflicts(
    *,
    integration_id: str | None = None,
    noun: str | None = None,
    status: str | None = None,
    entity_id: str | None = None,
    limit: int = 50,
    before: int | None = None,
    hub: Hub | None = None,
) -> builtins.list[Conflict]:
    """Conflicts, newest first, filtered by integration, Noun, status and entity; ``before`` an id pages."""
    if status is not None and status not in STATUSES:
        raise ValidationError.single("status", "enum", f"status must be one of: {', '.join(STATUSES)}")
    hub = hub or await current_hub()
    c = conflicts.c
    q = sa.select(conflicts).order_by(c.id.desc()).limit(max(1, min(int(limit), 1000)))
    for column, value in ((c.integration_id, integration_id), (c.entity_type, noun), (c.status, status)):
        if value is not None:
            q = q.where(column == value)
    if entity_id is not None:
        q = q.where(c.entity_id == entity_id)
    if before is not None:
        q = q.where(c.id < before)
    async with hub.read() as conn:
        return [Conflict.from_row(r) for r in await conn.execute(q)]


async def get_conflict(conflict_id: int, *, hub: Hub | None = None) -> Conflict:
    hub = hub or await current_hub()
    async with hub.read() as conn:
        row = (await conn.execute(sa.select(conflicts).where(conflicts.c.id == int(conflict_id)))).first()
    if row is None:
        raise NotFoundError(f"no conflict {conflict_id}", conflict_id=conflict_id)
    return Conflict.from_row(row)


def _decisions(
    conflict: Conflict, take: str | None, values: Mapping[str, Any] | None
) -> dict[str, tuple[Literal["local", "remote", "value"], Any]]:
    """Each parked field's outcome (and the given value), or a ValidationError naming what is missing."""
    if take is not None and take not in ("local", "remote"):
        raise ValidationError.single("take", "enum", "take must be 'local' or 'remote'")
    values = dict(values or {})
    parked = conflict.parked
    errors = [
        FieldError(f"values.{f}", "not_in_conflict", f"{f} is not an open field of conflict {conflict.id}")
        for f in values
        if f not in parked
    ]
    undecided = [f for f in parked if f not in values and take is None]
    if undecided:
        errors.append(
            FieldError(
                "take",
                "required",
                f"conflict {conflict.id} needs a decision for {', '.join(undecided)}: take local or remote, or a value",
            )
        )
    if errors:
        raise ValidationError("; ".join(e.message for e in errors), errors, conflict_id=conflict.id)
    out: dict[str, tuple[Literal["local", "remote", "value"], Any]] = {}
    for f in parked:
        if f in values:
            out[f] = ("value", values[f])
        else:
            out[f] = ("local", None) if take == "local" else ("remote", None)
    return out


async def resolve_conflict(
    conflict_id: int,
    *,
    take: str | None = None,
    values: Mapping[str, Any] | None = None,
    reason: str | None = None,
    by: str = "system",
    hub: Hub | None = None,
) -> Conflict:
    """Decide every parked field of a conflict and apply it to both sides (see the module docstring)."""
    hub = hub or await current_hub()
    conflict = await get_conflict(conflict_id, hub=hub)
    if conflict.status != "open":
        raise ConflictError(
            f"conflict {conflict.id} was already resolved by {conflict.resolved_by}",
            code="conflict_resolved",
            conflict_id=conflict.id,
        )
    decisions = _decisions(conflict, take, values)
    link = await _linked(hub, conflict.integration_id, conflict.entity_id)
    if link is None:
        raise NotFoundError(
            f"{conflict.entity_type} {conflict.entity_id} is no longer linked to {conflict.integration_id}",
            conflict_id=conflict.id,
        )
    given = link.noun.validate({f: v for f, (how, v) in decisions.items() if how == "value"}, partial=True)
    final: dict[str, Any] = {}
    for f, (how, _) in decisions.items():
        final[f] = (
            link.entity.get(f) if how == "local" else conflict.fields[f]["remote"] if how == "remote" else given.get(f)
        )
    changes = {f: v for f, v in final.items() if link.entity.get(f) != v}
    if changes:  # a move its state machine refuses is refused before the provider is written
        verbs.propose(link.noun, ["update"], link.entity, changes, eid=link.entity.id, now_iso=iso(hub.clock()))
    # The provider first: a refusal leaves everything as it was.
    pushable = link.provider.pushable(link.ref.resource)
    to_push = {f: v for f, v in final.items() if v != conflict.fields[f]["remote"] and f in pushable}
    base = dict(link.ref.base or {})
    base.update({f: conflict.fields[f]["remote"] for f in final})
    if to_push:
        base = await _push(link, conflict, to_push, base)
    for f, (how, _) in decisions.items():
        conflict.fields[f] = {**conflict.fields[f], "outcome": how, "value": final[f], "pushed": f in to_push}
    conflict.status, conflict.resolved_by, conflict.reason = "resolved", by, reason
    conflict.resolved_at = hub.clock()

    async def record(tx: Tx, entity: Entity) -> None:
        if not await queue_rows.update_fields(tx, conflict):  # resolved by someone else meanwhile
            raise ConflictError(
                f"conflict {conflict.id} was resolved while this resolution ran",
                code="conflict_resolved",
                conflict_id=conflict.id,
            )
        await _settle(tx, link, base, entity)
        await queue_rows.publish(tx, conflict, RESOLVED)

    if changes:
        with acting_as(link.provider.slug):
            await verbs.run(link.noun, ["update"], conflict.entity_id, changes, in_tx=[record])
    else:
        async with hub.transaction() as tx:
            await record(tx, link.entity)
    return conflict
