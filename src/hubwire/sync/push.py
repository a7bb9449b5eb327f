"""Push: send an entity's local field values to its provider, and move the ref's base to the answer.

Two callers: the ``sync.push`` job a sync's field merge enqueues for local-only changes (and for
clashes a policy gave to the local side), and a conflict resolution whose outcome differs from
the remote value. Both go through :meth:`Provider.push` and then :func:`settle`, which saves
the ref with the provider's answer as its base, so the next sync sees the remote unchanged.

The job pushes what differs between the entity and the base when it runs (not a list taken when
it was queued), leaving out fields parked in an open conflict and fields the provider cannot
write: a job run twice, or late, sends the current local values, never a stale one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
import structlog

from hubwire.connectors.registry import Provider, ProviderContext
from hubwire.domains.platform import Integration
from hubwire.errors import HubwireError
from hubwire.jobs.kinds import Backoff, Dead, Job, job_kind
from hubwire.nouns.entity import Entity
from hubwire.nouns.noun import Noun
from hubwire.store.tables import external_refs
from hubwire.sync import conflicts as queue_rows
from hubwire.sync.state import DIVERGED, Ref, save_refs
from hubwire.sync.upsert import PUSH_JOB, fingerprint
from hubwire.vault.credentials import load_credentials

if TYPE_CHECKING:
    from hubwire.hub import Hub
    from hubwire.store.transaction import Tx

__all__ = ["Linked", "differing", "linked", "push", "settle"]

log = structlog.get_logger("hubwire.sync")


@dataclass
class Linked:
    """An entity with its ref (base loaded) at one integration, and that integration's provider."""

    noun: Noun
    entity: Entity
    ref: Ref
    provider: Provider
    context: ProviderContext


async def linked(hub: Hub, integration_id: str, entity_id: str) -> Linked | None:
    """The entity, ref and provider context of ``entity_id`` at ``integration_id``; None without a ref."""
    async with hub.read() as conn:
        row = (
            await conn.execute(
                sa.select(external_refs).where(
                    external_refs.c.integration_id == integration_id, external_refs.c.entity_id == entity_id
                )
            )
        ).first()
    if row is None:
        return None
    noun = Noun.registry.get(row.entity_type)
    if noun is None:
        return None
    ref = Ref(
        row.resource,
        row.remote_id,
        row.entity_type,
        row.entity_id,
        row.hash,
        row.entity_version,
        row.remote_updated,
        row.base,
    )
    integration = await Integration.get(integration_id)
    provider = hub.providers.get(integration["provider"])
    creds = await load_credentials(hub, integration_id)
    ctx = ProviderContext(hub, provider, integration, creds, dict(integration.get("config") or {}))
    return Linked(noun, await noun.load(hub, entity_id), ref, provider, ctx)


def _names(link: Linked) -> set[str]:
    """The fields the base speaks for: those it holds, and those the provider can be sent."""
    return {n for n in (*(link.ref.base or {}), *link.provider.pushable(link.ref.resource)) if n in link.noun.fields}


def stored_base(link: Linked, base: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` as the entity stores values, for each of :func:`_names` (unset ones as None)."""
    clean = {k: v for k, v in base.items() if v is not None and k in link.noun.fields}
    return {n: None for n in _names(link)} | link.noun.validate(clean, partial=True)


def differing(link: Linked, leave_out: frozenset[str] | set[str] = frozenset()) -> dict[str, Any]:
    """The pushable fields whose local value differs from the base (``leave_out`` excepted)."""
    if link.ref.base is None:
        return {}
    base = stored_base(link, link.ref.base)
    pushable = link.provider.pushable(link.ref.resource)
    return {
        f: link.entity.get(f)
        for f in sorted(pushable)
        if f in base and f not in leave_out and link.entity.get(f) != base[f]
    }


async def push(link: Linked, values: Mapping[str, Any]) -> dict[str, Any]:
    """Send ``values`` to the remote object; return the new base (the answer over the old base)."""
    answer = await link.provider.push(link.context, link.ref.resource, link.ref.remote_id, values)
    merged = {**(link.ref.base or {}), **answer}
    return {k: v for k, v in merged.items() if v is not None}


async def settle(tx: Tx, link: Linked, base: Mapping[str, Any], entity: Entity, *, parked: bool = False) -> None:
    """Save the ref with ``base`` in ``tx``; it agrees with ``entity`` unless a field differs or is ``parked``."""
    ref = link.ref
    ref.base = dict(base)
    ref.hash = fingerprint({k: v for k, v in base.items() if v is not None})
    stored = stored_base(link, base)
    agrees = not parked and all(entity.get(f) == v for f, v in stored.items())
    ref.entity_version = entity.version if agrees else DIVERGED
    await save_refs(tx, link.context.integration.id, [ref])


@job_kind(PUSH_JOB, max_attempts=8, backoff=Backoff(base=30.0, factor=4.0, max=6 * 3600.0))
async def _push_job(job: Job, hub: Hub) -> None:
    integration_id, entity_id = job.payload["integration_id"], job.payload["entity_id"]
    try:
        link = await linked(hub, integration_id, entity_id)
        if link is None:
            return  # unlinked or deleted since: nothing to push
        async with hub.read() as conn:
            open_row = (await queue_rows.open_rows(conn, integration_id, [entity_id])).get(entity_id)
        values = differing(link, set(open_row.parked) if open_row else set())
        if not values:
            return
        base = await push(link, values)
        async with hub.transaction() as tx:
            await settle(tx, link, base, link.entity, parked=open_row is not None)
        log.info("sync.pushed", integration_id=integration_id, entity_id=entity_id, fields=sorted(values))
    except HubwireError as exc:
        if not exc.retryable:
            raise Dead(exc.message) from exc
        raise
