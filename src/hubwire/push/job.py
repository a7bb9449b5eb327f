"""The push job: send one entity's pending change to one Integration's provider, durably.

A ``sync.push`` job is responsible for one ``push_outbox`` row (see :mod:`hubwire.push.outbox`).
It reads the entity as it is now and decides what to do from the state, not from the verb that
queued it: no remote object linked -> create (and link the id the provider answered), linked ->
update of the fields changed since the provider last had them (``pushed``), entity gone ->
delete. Then, in one transaction, it records the ref (with the hash a sync will compute from
the provider's record, so that the echo of this write is ``unchanged`` for the next sync) and
releases the row only if no newer change arrived meanwhile; if one did, it pushes again.

What the provider last had, for an update: the ref's base (what the last sync read, or the last
push's answer) for the fields it holds, else what was last pushed. A row a sync's field merge
owes (verb ``merge``, :func:`hubwire.push.outbox.owe`) is pushed even when the Integration does
not push the Noun, but then only the fields the provider's update takes (``Provider.pushable``);
no push ever sends a field parked in an open conflict (the resolution writes it).

Idempotency keys are derived from the entity: ``...-create`` (stable however often the create is
retried, so a create whose answer was lost is replayed, never duplicated), ``...-v{version}``
for an update, ``...-delete``. Failures: a retryable provider error (5xx, timeouts, 429 with its
``Retry-After``) is retried with the kind's backoff; a refused request or a spent job is
dead-lettered (``hubwire jobs list --kind sync.push --status dead``, ``hubwire jobs retry ID``)
and emits ``Push.Failed``.

Why ``Push.Failed`` and not ``Integration.Errored``: a push fails for one entity (a refused
field, a deleted remote object) while the Integration goes on working, and ``Errored`` is a verb
of the Integration that overwrites its ``error`` (what the last sync said) and bumps its version:
an outage would write the Integration once per entity. ``Push.Failed`` names the entity, the
job to retry and the provider's error; it is registered, so endpoints can subscribe to it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pydantic
import sqlalchemy as sa
import structlog

from hubwire import declarations
from hubwire.connectors.directions import PUSHING, direction_of
from hubwire.connectors.registry import ProviderContext, PushCall
from hubwire.domains.platform import Integration
from hubwire.errors import ConfigurationError, ConflictError, HubwireError, NotFoundError
from hubwire.events import emit, register
from hubwire.jobs.kinds import Backoff, Dead, Job, Retry, job_kind
from hubwire.net.redact import redact_text
from hubwire.nouns.entity import Entity
from hubwire.push.outbox import ACTIVE, MERGED, PUSH_JOB
from hubwire.store.tables import push_outbox
from hubwire.sync.conflicts import open_rows
from hubwire.sync.state import DIVERGED, Ref, delete_refs_of, ref_of, save_refs
from hubwire.sync.upsert import fingerprint, resolve_links, stored_base
from hubwire.vault.credentials import load_credentials

if TYPE_CHECKING:
    from hubwire.hub import Hub
    from hubwire.nouns.noun import Noun

__all__ = ["PUSH_FAILED", "run_push"]

log = structlog.get_logger("hubwire.push")
PUSH_FAILED = "Push.Failed"
# Pushes of one job run when the entity keeps changing while it is being sent, before it gives
# its turn to other jobs (then it runs again at once).
_ROUNDS = 5


class PushFailed(pydantic.BaseModel):
    integration_id: str
    noun: str
    entity_id: str
    verb: str
    version: int
    job_id: int
    attempts: int
    error: str


register(
    PUSH_FAILED,
    schema=PushFailed,
    display_name="Push failed",
    description="A local change could not be pushed to a provider: its job is dead-lettered (retry it "
    "with `hubwire jobs retry ID`).",
    category="Push",
)


def _keys(integration_id: str, entity_id: str) -> sa.ColumnElement[bool]:
    return sa.and_(push_outbox.c.integration_id == integration_id, push_outbox.c.entity_id == entity_id)


async def _entity(hub: Hub, noun: Noun, entity_id: str) -> Entity | None:
    try:
        return await noun.load(hub, entity_id)
    except NotFoundError:
        return None


async def run_push(hub: Hub, job: Job) -> str:
    """Push the change ``job`` is responsible for; returns what it did (pushed, nothing, superseded...)."""
    iid, eid = job.payload["integration_id"], job.payload["entity_id"]
    outcome = "nothing to push"
    for _ in range(_ROUNDS):
        async with hub.read() as conn:
            row = (await conn.execute(sa.select(push_outbox).where(_keys(iid, eid)))).first()
        if row is None or row.job_id != job.id:
            return "superseded"  # a newer job holds the row (this one was dead and retried), or all is pushed
        integ = await Integration.load(hub, iid)
        prov = hub.providers.get(integ["provider"])
        if integ["status"] not in ACTIVE:
            raise ConflictError(
                f"{iid} is {integ['status']}: connect it again, then retry the push",
                code="integration_inactive",
                integration_id=iid,
            )
        config = dict(integ.get("config") or {})
        pushing = direction_of(prov.push_directions(), config, row.noun) in PUSHING
        if not pushing and row.verb != MERGED:
            async with hub.transaction() as tx:  # no longer pushed: nothing is owed
                await tx.conn.execute(push_outbox.update().where(_keys(iid, eid)).values(job_id=None))
            return "no longer pushed"
        noun = declarations.nouns.get(row.noun)
        if noun is None:
            raise ConfigurationError(f"no Noun {row.noun} in this process: import its declaration", noun=row.noun)
        entity = await _entity(hub, noun, eid)
        async with hub.read() as conn:
            ref = await ref_of(conn, iid, eid)
            held = await open_rows(conn, iid, [eid])
        # Never a field parked in an open conflict (its resolution writes it); a Noun the Integration
        # does not push sends only what a merge owes: the fields the provider takes (Provider.pushable).
        leave_out = set(held[eid].parked) if eid in held else set()
        only = None if pushing or ref is None else prov.pushable(ref.resource)
        call = _call(noun, iid, eid, entity, ref, row.pushed, leave_out=leave_out, only=only)
        ctx = ProviderContext(hub, prov, integ, await load_credentials(hub, iid), config)
        pushed = await prov.push(ctx, call) if call is not None else None
        if call is not None:
            outcome = f"{call.verb}d"  # created, updated, deleted
        if pushed is not None:
            await resolve_links(hub, iid, [pushed.record])
        snapshot = entity.fields() if entity is not None else None
        # The row first, then the ref: the order a change's transaction takes them in (entity, outbox row).
        async with hub.transaction() as tx:
            mine = sa.and_(_keys(iid, eid), push_outbox.c.event_seq == row.event_seq)
            if entity is None:
                done = await tx.conn.execute(push_outbox.delete().where(mine))
            else:
                done = await tx.conn.execute(
                    push_outbox.update()
                    .where(mine)
                    .values(job_id=None, pushed=snapshot, pushed_version=entity.version, updated_at=hub.clock())
                )
                if not done.rowcount:  # a newer change arrived while this one was sent: push it too
                    await tx.conn.execute(
                        push_outbox.update()
                        .where(_keys(iid, eid))
                        .values(pushed=snapshot, pushed_version=entity.version, updated_at=hub.clock())
                    )
            if call is not None and call.verb == "delete":
                await delete_refs_of(tx, iid, eid)
            elif pushed is not None and entity is not None:
                rec = pushed.record
                base = {k: v for k, v in rec.fields.items() if v is not None}
                # While a conflict parks fields, the entity differs from the base on purpose.
                version = DIVERGED if leave_out else entity.version
                ref = Ref(
                    pushed.resource, rec.remote_id, noun.name, eid, fingerprint(base), version, rec.remote_updated
                )
                ref.base = base
                await save_refs(tx, iid, [ref])
        if done.rowcount:
            return outcome
    raise Retry(0.0, "the entity kept changing while it was pushed: pushing again")


def _call(
    noun: Noun,
    iid: str,
    eid: str,
    entity: Entity | None,
    ref: Ref | None,
    pushed: dict[str, Any] | None,
    *,
    leave_out: set[str] | frozenset[str] = frozenset(),
    only: frozenset[str] | None = None,
) -> PushCall | None:
    """What to send, from the state: create, update of the changed fields, delete, or nothing.

    An update sends the fields that differ from what the provider last had: the ref's base (what
    the last sync read or push answered) for the fields it holds, what the last push sent
    (``pushed``) for the others; with neither, every set field. ``leave_out`` and ``only`` narrow
    it (see :func:`run_push`).
    """
    prefix = f"hubwire-{iid}-{eid}"
    if entity is None:
        if ref is None:
            return None  # never reached the provider: nothing to delete there
        return PushCall(noun, "delete", eid, None, {}, ref.remote_id, f"{prefix}-delete")
    current = entity.fields()
    if ref is None:
        fields = {k: v for k, v in current.items() if v is not None}
        return PushCall(noun, "create", eid, entity, fields, None, f"{prefix}-create")
    # Fields the ref's base holds: as the provider last had them (a sync or a push moved it since
    # ``pushed``, which would resend stale values); the others as last pushed.
    base = {**(pushed or {}), **(stored_base(noun, ref.base) if ref.base is not None else {})}
    changed = {
        k: v for k, v in current.items() if base.get(k) != v and k not in leave_out and (only is None or k in only)
    }
    if not changed:
        return None
    return PushCall(noun, "update", eid, entity, changed, ref.remote_id, f"{prefix}-v{entity.version}")


async def _failed(hub: Hub, job: Job, error: str) -> None:
    p = job.payload
    try:
        await emit(
            PUSH_FAILED,
            {
                "integration_id": p["integration_id"],
                "noun": p["noun"],
                "entity_id": p["entity_id"],
                "verb": p["verb"],
                "version": int(p.get("version") or 0),
                "job_id": job.id,
                "attempts": job.attempts,
                "error": redact_text(error),
            },
            entity_id=p["entity_id"],
        )
    except Exception as exc:  # the dead letter is the record that counts; the event must not hide it
        log.error("push.failed_event_failed", job_id=job.id, error=str(exc))


@job_kind(PUSH_JOB, max_attempts=8, backoff=Backoff(base=5.0, factor=3.0, max=3600.0))
async def _push_job(job: Job, hub: Hub) -> str:
    try:
        return await run_push(hub, job)
    except Retry:
        raise
    except HubwireError as exc:
        last = not exc.retryable or job.attempts >= job.max_attempts
        if last:
            await _failed(hub, job, exc.message)
        if not exc.retryable:
            raise Dead(exc.message) from exc  # refused by the provider: the same request will not pass
        if exc.retry_after is not None:
            raise Retry(exc.retry_after, exc.message) from exc  # the provider's Retry-After
        raise
    except Exception as exc:
        if job.attempts >= job.max_attempts:
            await _failed(hub, job, f"{type(exc).__name__}: {exc}")
        raise
