"""What a write-through writer needs around its provider call: which connection, which remote id, and
how the provider's answer becomes the entity and its external ref.

A writer (a ``Noun.add_writer`` function of a connector) runs before the verb's transaction. It
asks :func:`target` which Integration of its provider the verb goes to: the one the entity is
linked with (an update), or the only active one whose config does not say ``write_creates:
false`` (a create; with several, the create stays local: which CRM is meant is not guessable).
An Integration that pushes the Noun through the outbox (config ``directions``: ``push`` or
``both``, :mod:`hubwire.connectors.directions`) is no target: the outbox sends the change after
the commit, and writing it through as well would send it twice.
After the provider answered, :func:`take_answer` puts the mapped answer into the proposed entity
and saves the external ref in the verb's transaction, hashed as a sync would hash it, so the next
sync sees the record unchanged. Nothing here sends a request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from hubwire.connectors.directions import PUSHING, direction_of
from hubwire.connectors.registry import ProviderContext
from hubwire.domains.platform import ACTIVE, Integration
from hubwire.nouns.entity import Entity
from hubwire.store.tables import external_refs
from hubwire.sync.state import Ref, load_refs, save_refs
from hubwire.sync.upsert import Incoming, fingerprint
from hubwire.vault.credentials import load_credentials

if TYPE_CHECKING:
    from hubwire.hub import Hub
    from hubwire.nouns.verbs import VerbCall
    from hubwire.store.transaction import Tx

__all__ = ["PushResult", "Target", "changed_fields", "context_of", "pushes", "remote_ids", "take_answer", "target"]


class PushResult(dict[str, str]):
    """What a CRM's bulk push (Salesforce's composite, HubSpot's batch API) did: ``entity id -> remote
    id`` of the entities written; ``errors`` maps each refused entity to the provider's message."""

    def __init__(self) -> None:
        super().__init__()
        self.errors: dict[str, str] = {}


@dataclass(frozen=True)
class Target:
    """Where a verb is written: the Integration, its context, and the entity's remote id (None: a create)."""

    ctx: ProviderContext
    remote_id: str | None

    @property
    def integration_id(self) -> str:
        return str(self.ctx.integration.id)


async def context_of(hub: Hub, integration: Entity) -> ProviderContext:
    """The provider context of an Integration: its provider, credentials and config."""
    prov = hub.providers.get(integration["provider"])
    creds = await load_credentials(hub, integration.id)
    return ProviderContext(hub, prov, integration, creds, dict(integration.get("config") or {}))


def pushes(hub: Hub, integration: Entity, noun: str) -> bool:
    """Whether ``integration`` sends ``noun``'s local changes through the push outbox."""
    pushable = hub.providers.get(integration["provider"]).push_directions()
    return direction_of(pushable, integration.get("config"), noun) in PUSHING


async def target(hub: Hub, slug: str, entity_id: str, *, noun: str, creating: bool) -> Target | None:
    """The active ``slug`` Integration this verb on a ``noun`` is written to, or None (the verb stays
    local, or the outbox pushes it)."""
    if slug not in hub.providers:
        return None
    if creating:
        found = await Integration.find({"provider": slug, "status": {"$in": list(ACTIVE)}}, limit=2)
        writable = [i for i in found if (i.get("config") or {}).get("write_creates", True) is not False]
        if len(found) != 1 or not writable or pushes(hub, writable[0], noun):
            return None
        return Target(await context_of(hub, writable[0]), None)
    async with hub.read() as conn:
        rows = (
            await conn.execute(
                sa.select(external_refs.c.integration_id, external_refs.c.remote_id).where(
                    external_refs.c.entity_id == entity_id
                )
            )
        ).all()
    for integration_id, remote_id in rows:
        found = await Integration.find({"$id": integration_id, "provider": slug}, limit=1)
        if found and found[0]["status"] in ACTIVE and not pushes(hub, found[0], noun):
            return Target(await context_of(hub, found[0]), str(remote_id))
    return None


async def remote_ids(hub: Hub, integration_id: str, entity_ids: list[str]) -> dict[str, str]:
    """``entity id -> remote id`` at one Integration, for the entities linked there."""
    wanted = [e for e in entity_ids if isinstance(e, str) and e]
    if not wanted:
        return {}
    async with hub.read() as conn:
        rows = (
            await conn.execute(
                sa.select(external_refs.c.entity_id, external_refs.c.remote_id).where(
                    external_refs.c.integration_id == integration_id, external_refs.c.entity_id.in_(wanted)
                )
            )
        ).all()
    return {str(e): str(r) for e, r in rows}


def changed_fields(call: VerbCall) -> dict[str, Any]:
    """The fields a verb changes (its own verbs' moves included: ``Deal.win`` changes ``status``)."""
    current: Mapping[str, Any] = call.current.fields() if call.current is not None else {}
    return {k: v for k, v in call.proposed.fields().items() if current.get(k) != v}


async def take_answer(call: VerbCall, integration_id: str, inc: Incoming, resource: str) -> None:
    """The provider's answer (mapped) into the proposed entity; its ref saved in the verb's transaction."""
    async with call.hub.read() as db:
        for fname, (res, rid) in inc.links.items():
            refs = await load_refs(db, integration_id, res, [rid])
            inc.fields[fname] = refs[rid].entity_id if rid in refs else None
    # A relation the provider does not hold (its target is not linked there) keeps the local value;
    # the hash is the sync's view of the record all the same.
    taken = {k: v for k, v in inc.fields.items() if v is not None or call.noun.fields[k].type != "relation"}
    call.proposed.update(call.noun.validate(taken, partial=True))
    clean = {k: v for k, v in inc.fields.items() if v is not None}
    # The provider's answer is the ref's base too: what a later field merge compares both sides with.
    ref = Ref(resource, inc.remote_id, call.noun.name, call.id, fingerprint(clean), 0, inc.remote_updated, clean)

    async def link(tx: Tx, entity: Entity) -> None:
        ref.entity_version = entity.version
        await save_refs(tx, integration_id, [ref])

    call.in_tx.append(link)
