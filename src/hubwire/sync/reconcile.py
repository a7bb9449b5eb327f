"""Reconciliation: after a full pull, delete the local entities whose remote object is gone.

Providers do not always say that something was deleted: GitHub's lists simply stop showing a
deleted issue or comment, Stripe's lists a deleted customer (and its event leaves the feed after
30 days). A full run lists every remote object of each resource its listing streams cover
(:class:`hubwire.sync.engine.Stream`), noting the remote ids seen (:meth:`SyncRun.saw`); once
the pull has finished without error, :func:`sweep` compares them with the refs held for those
resources. A ref neither seen nor written since the run started (a webhook may have linked a new
object meanwhile) stands for an object that is gone: its entity is deleted through the sync's
own apply (:func:`hubwire.sync.upsert.apply_page` with ``deleted`` records: ``Noun.Deleted``
events, after-hooks and subscribers, with the provider as the source) and the ref removed.

The guard: when the gone refs of a resource are more than a share of that resource's refs
(``HUBWIRE_SYNC_DELETE_GUARD``, default 0.2, or the Integration's ``delete_guard``), something
is more likely wrong (a token that lost access to a repository, a filtered list) than a fifth of
the data deleted: the run deletes NOTHING, finishes ``held`` with a summary saying how many would
go, logs a warning and emits ``Sync.DeletionsHeld``. Running it again with a confirmation
(``confirm_deletions``) lets it through. Incremental runs never sweep.

What a listing saw is held in memory for the run: about a hundred bytes per remote id.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pydantic
import sqlalchemy as sa
import structlog

from hubwire.events.registry import register
from hubwire.nouns.noun import Noun
from hubwire.store.tables import external_refs
from hubwire.sync.state import TOMBSTONE
from hubwire.sync.upsert import Incoming, apply_page

if TYPE_CHECKING:
    from hubwire.hub import Hub
    from hubwire.sync.runs import SyncRun

__all__ = ["DELETIONS_HELD", "Held", "Sweep", "sweep"]

log = structlog.get_logger("hubwire.sync")
DELETIONS_HELD = "Sync.DeletionsHeld"
_CHUNK = 500  # deletions applied per transaction


class _HeldResource(pydantic.BaseModel):
    resource: str
    noun: str
    would_delete: int
    of: int


class _DeletionsHeld(pydantic.BaseModel):
    integration_id: str
    run_id: str
    guard: float
    resources: list[_HeldResource]
    message: str


register(
    DELETIONS_HELD,
    schema=_DeletionsHeld,
    display_name="Sync deletions held",
    description="A reconciliation found more records gone than the deletion guard allows and deleted none; "
    "run the sync again with confirm_deletions to let it through",
    category="Sync",
)


@dataclass(frozen=True)
class Held:
    """A resource whose gone share is over the guard: ``would_delete`` of its ``of`` refs."""

    resource: str
    noun: str
    would_delete: int
    of: int


@dataclass
class Sweep:
    """What a sweep did: ``deleted`` per Noun, or nothing and ``held`` (with ``message``)."""

    guard: float
    deleted: dict[str, int] = field(default_factory=dict)
    held: list[Held] = field(default_factory=list)
    message: str | None = None


def _noun_label(name: str, n: int) -> str:
    return name if n == 1 else f"{name}s"


def _message(held: list[Held], guard: float) -> str:
    parts = [f"{h.would_delete} of {h.of} {_noun_label(h.noun, h.of)} ({h.resource})" for h in held]
    return (
        f"{', '.join(parts)} would be deleted, more than the deletion guard's {guard:.0%}: nothing was deleted; "
        "run again with --confirm-deletions (Integration.sync(id, confirm_deletions=True)) if they are really gone"
    )


async def sweep(hub: Hub, run: SyncRun, *, source: str, guard: float, confirm: bool) -> Sweep:
    """Delete what ``run``'s listings did not see (see the module docstring); call after a full pull."""
    integration_id = run.integration_id
    gone: dict[str, list[tuple[str, str]]] = {}  # resource -> [(remote id, entity type)]
    totals: dict[str, int] = {}
    started = run.started_at
    r = external_refs.c
    async with hub.read() as conn:
        for resource, seen in run.seen.items():
            rows = (
                await conn.execute(
                    # Tombstones are objects already known deleted: neither gone again nor counted.
                    sa.select(r.remote_id, r.entity_type, r.synced_at).where(
                        r.integration_id == integration_id, r.resource == resource, r.hash != TOMBSTONE
                    )
                )
            ).all()
            totals[resource] = len(rows)
            # Not seen, and not written since the run started (a webhook's new link is not stale).
            stale = [(x.remote_id, x.entity_type) for x in rows if x.remote_id not in seen and x.synced_at < started]
            if stale:
                gone[resource] = stale
    held = [
        Held(resource, stale[0][1], len(stale), totals[resource])
        for resource, stale in gone.items()
        if len(stale) > guard * totals[resource]
    ]
    if held and not confirm:
        message = _message(held, guard)
        log.warning("sync.deletions_held", integration=integration_id, run=run.id, message=message)
        return Sweep(guard, held=held, message=message)
    result = Sweep(guard)
    for resource, stale in gone.items():
        by_noun: dict[str, list[str]] = defaultdict(list)
        for remote_id, entity_type in stale:
            by_noun[entity_type].append(remote_id)
        for noun_name, remote_ids in by_noun.items():
            noun = Noun.registry.get(noun_name)
            if noun is None:  # a Noun this process does not declare: leave its refs alone
                log.warning("sync.sweep_unknown_noun", integration=integration_id, noun=noun_name)
                continue
            for start in range(0, len(remote_ids), _CHUNK):
                items = [Incoming(rid, {}, deleted=True) for rid in remote_ids[start : start + _CHUNK]]
                page = await apply_page(
                    hub,
                    integration_id=integration_id,
                    resource=resource,
                    noun=noun,
                    items=items,
                    source=source,
                    run=run,
                )
                result.deleted[noun_name] = result.deleted.get(noun_name, 0) + page.deleted
    if result.deleted:
        log.info("sync.reconciled", integration=integration_id, run=run.id, deleted=result.deleted)
    return result
