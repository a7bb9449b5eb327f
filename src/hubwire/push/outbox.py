"""The push outbox: every local change of a pushed Noun becomes a durable push, in its own transaction.

Installed on every Hub as an event sink (like the webhook fan-out): for each event of a Noun
that an active Integration pushes (direction ``push`` or ``both``), unless the change comes from
that Integration's provider (its sync or webhooks: ``source`` is the provider's slug), the sink
records the change in ``push_outbox`` and makes sure ONE job (:data:`PUSH_JOB`) is responsible
for it, in the transaction of the change and its event. A row, not one job per change:

- no job for the row, or its job dead-lettered: a new job is enqueued;
- its job queued: nothing more (its payload says the newer version): the pending push is
  superseded, it will send the entity as it is when it runs;
- its job running: nothing more; the job finishes only when the row's ``event_seq`` is still
  the one it pushed (a conditional update), else it pushes again. So a change that commits
  while a push is in flight is never lost, and no older state is sent after a newer one.

The job (:mod:`hubwire.push.job`) reads the entity when it runs; this module only records.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from hubwire import declarations
from hubwire.connectors.directions import PUSHING, direction_of
from hubwire.extensions import on_hub
from hubwire.jobs import queue
from hubwire.store.tables import entities, jobs, push_outbox

if TYPE_CHECKING:
    from hubwire.connectors.spec import Direction
    from hubwire.hub import Hub
    from hubwire.store.events import EventRecord
    from hubwire.store.transaction import Tx

__all__ = ["ACTIVE", "MERGED", "PUSH_JOB", "PushStatus", "Target", "owe", "push_status", "record"]

PUSH_JOB = "sync.push"
# The verb of a push a sync's field merge owes (:func:`owe`): an update of the fields the provider
# can take (``Provider.pushable``) that changed only locally, whatever the Noun's direction.
MERGED = "merge"
ACTIVE = ("Connected", "Synced")  # the Integration statuses that push (those that sync)


@dataclass(frozen=True)
class Target:
    """An Integration pushing a Noun."""

    integration_id: str
    provider: str


class _Targets:
    """One transaction's view: who pushes which Noun (read once, again after an Integration changed)."""

    def __init__(self, hub: Hub) -> None:
        # Noun -> {slug of a registered provider that can push it: its default direction}. Most
        # Nouns are in no provider's list: their events cost one lookup here.
        self.pushable: dict[str, dict[str, Direction]] = {}
        for prov in hub.providers.all():
            for noun, default in prov.push_directions().items():
                self.pushable.setdefault(noun, {})[prov.slug] = default
        self.by_noun: dict[str, list[Target]] | None = None

    async def of(self, tx: Tx, noun: str) -> list[Target]:
        if self.by_noun is None:
            rows = (
                await tx.conn.execute(sa.select(entities.c.id, entities.c.data).where(entities.c.type == "Integration"))
            ).all()
            self.by_noun = {}
            for row in rows:
                data = row.data or {}
                if data.get("status") not in ACTIVE:
                    continue
                for name, providers in self.pushable.items():
                    default = providers.get(str(data.get("provider")))
                    if default is not None and direction_of({name: default}, data.get("config"), name) in PUSHING:
                        self.by_noun.setdefault(name, []).append(Target(row.id, str(data["provider"])))
        return self.by_noun.get(noun, [])


def _verb(ev: EventRecord) -> str | None:
    """``create``, ``update`` or ``delete``: what the event did to its entity (a custom verb updates)."""
    noun = declarations.nouns.get(ev.entity_type)
    if noun is None:
        return None
    event = ev.type.partition(".")[2]
    for verb in ("create", "delete"):
        decl = noun.verbs.get(verb)
        if decl is not None and decl.event == event:
            return verb
    return "update"


async def _sink(tx: Tx, ev: EventRecord) -> None:
    targets: _Targets | None = tx.state.get(_Targets)
    if targets is None:
        targets = tx.state[_Targets] = _Targets(tx.hub)
    if ev.entity_type == "Integration":
        targets.by_noun = None  # its directions or status may have changed in this transaction
        return
    if ev.entity_type not in targets.pushable or not ev.entity_id:
        return
    verb = _verb(ev)
    if verb is None:
        return
    for target in await targets.of(tx, ev.entity_type):
        if ev.source != target.provider:  # the provider's own change is not sent back to it
            await record(tx, target.integration_id, ev, verb)


def _payload(integration_id: str, ev: EventRecord, verb: str) -> dict[str, Any]:
    return {
        "integration_id": integration_id,
        "noun": ev.entity_type,
        "entity_id": ev.entity_id,
        "verb": verb,
        "version": int(ev.data.get("version") or 0),
    }


async def record(tx: Tx, integration_id: str, ev: EventRecord, verb: str) -> None:
    """Record ``ev``'s change of its entity as the latest to push to ``integration_id``, in ``tx``."""
    await _hold(tx, _payload(integration_id, ev, verb), ev.seq)


async def owe(tx: Tx, integration_id: str, noun: str, entity_id: str, version: int) -> None:
    """Owe ``integration_id``'s provider the local values a sync's field merge kept (:data:`MERGED`), in ``tx``.

    The merge found fields the provider can take (``Provider.pushable``) that changed only
    locally: they are pushed whatever the Noun's direction, since the provider is behind the
    entity it gave. No event asks for it (the merge's own changes come from the provider), so
    the row keeps the seq of the last change it recorded (0 when new).
    """
    payload = {"integration_id": integration_id, "noun": noun, "entity_id": entity_id, "verb": MERGED}
    await _hold(tx, payload | {"version": version}, None)


async def _hold(tx: Tx, payload: dict[str, Any], event_seq: int | None) -> None:
    """Make the outbox row of ``payload``'s entity say its latest change, and ONE job responsible for it."""
    now = tx.hub.clock()
    integration_id, entity_id = payload["integration_id"], payload["entity_id"]
    key = sa.and_(push_outbox.c.integration_id == integration_id, push_outbox.c.entity_id == entity_id)
    change: dict[str, Any] = {"noun": payload["noun"], "verb": payload["verb"], "version": payload["version"]}
    if event_seq is not None:
        change["event_seq"] = event_seq
    insert: Any = (postgresql.insert if tx.dialect == "postgresql" else sqlite.insert)(push_outbox)
    fresh = (
        await tx.conn.execute(
            insert.values(
                integration_id=integration_id,
                entity_id=entity_id,
                created_at=now,
                updated_at=now,
                **({"event_seq": 0} | change),
            )
            .on_conflict_do_nothing(index_elements=["integration_id", "entity_id"])
            .returning(push_outbox.c.entity_id)
        )
    ).first()
    if fresh is None:
        held = (
            await tx.conn.execute(
                push_outbox.update().where(key).values(updated_at=now, **change).returning(push_outbox.c.job_id)
            )
        ).first()
        job_id = held[0] if held is not None else None
        if job_id is not None:
            status = (await tx.conn.execute(sa.select(jobs.c.status).where(jobs.c.id == job_id))).scalar_one_or_none()
            if status == "queued":
                # Superseded: the pending job will push this version (its payload says so).
                await tx.conn.execute(
                    jobs.update().where(jobs.c.id == job_id, jobs.c.status == "queued").values(payload=payload)
                )
                return
            if status == "running":
                return  # it sees the newer event_seq when it finishes, and pushes again
    new_job = await queue.enqueue(tx, PUSH_JOB, payload)
    await tx.conn.execute(push_outbox.update().where(key).values(job_id=new_job))


@dataclass(frozen=True)
class PushStatus:
    """An Integration's pushes: entities waiting (queued or being sent) and dead-lettered."""

    pending: int
    failed: int

    def to_dict(self) -> dict[str, int]:
        return {"pending": self.pending, "failed": self.failed}


async def push_status(hub: Hub, integration_id: str) -> PushStatus:
    """How many of ``integration_id``'s entities wait to be pushed, and how many failed for good."""
    q = (
        sa.select(jobs.c.status, sa.func.count())
        .select_from(push_outbox.join(jobs, jobs.c.id == push_outbox.c.job_id))
        .where(push_outbox.c.integration_id == integration_id)
        .group_by(jobs.c.status)
    )
    async with hub.read() as conn:
        counts = {status: int(n) for status, n in (await conn.execute(q)).all()}
    return PushStatus(counts.get("queued", 0) + counts.get("running", 0), counts.get("dead", 0))


@on_hub
def install(hub: Hub) -> None:
    if _sink not in hub.event_sinks:
        hub.event_sinks.append(_sink)
