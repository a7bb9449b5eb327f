"""The inbox of verified provider webhooks: storing them (deduplicated, with their apply job), reading,
replaying and pruning them.

A row is written only for a request whose signature was verified, together with the
``inbound.apply`` job of its Integration (one live job per Integration takes all its waiting
webhooks: a new one is made only when none is queued or running), in one transaction, before the
request is answered: once a provider has its 2xx, the webhook is durable and will be applied.
Concurrent requests are written in batches (group commit, :class:`InboxWriter`): one transaction
for all the requests that arrived while the previous one committed, which is what lets one SQLite
writer keep up with a flood of webhooks.

Deduplication: ``(integration_id, event_id)`` is unique; a request whose provider event id is
already stored gets the stored row's id, and no second row or job. A scheme that carries no event
id (HubSpot batches, Slack commands) stores every request.

Statuses: ``received`` (waiting for its job) -> ``applied`` | ``ignored`` (the provider had nothing to
do with it) | ``failed`` (``error`` says why; a replay puts it back to ``received``).

Never stores a signature or authorization header, and never returns a secret.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from hubwire.errors import ConflictError, NotFoundError, ValidationError
from hubwire.jobs import queue
from hubwire.net.redact import is_secret_key
from hubwire.store.events import iso
from hubwire.store.group import GroupCommit
from hubwire.store.ids import new_ordered_ids
from hubwire.store.tables import inbound_hooks, jobs

if TYPE_CHECKING:
    from hubwire.hub import Hub
    from hubwire.store.transaction import Tx

__all__ = [
    "APPLY_JOB",
    "STATUSES",
    "HookRow",
    "InboxWriter",
    "Stored",
    "any_waiting",
    "apply_key",
    "get_received",
    "list_received",
    "prune",
    "replay",
    "stored_headers",
    "waiting",
]

APPLY_JOB = "inbound.apply"
STATUSES = ("received", "applied", "ignored", "failed")
_FINISHED = ("applied", "ignored", "failed")
_BATCH = 256  # rows per transaction at most: a few thousand bound parameters
_PRUNE_CHUNK = 1000


@dataclass(frozen=True)
class HookRow:
    """One received webhook as the inbox holds it."""

    id: str
    integration_id: str
    provider: str
    event_id: str | None
    event_type: str | None
    headers: dict[str, str]
    body: bytes
    status: str
    error: str | None
    attempts: int
    received_at: float
    applied_at: float | None

    def to_dict(self, *, body: bool = True) -> dict[str, Any]:
        """The JSON form: times in ISO 8601; the body as text when it is UTF-8, else base64."""
        out: dict[str, Any] = {
            "id": self.id,
            "integration_id": self.integration_id,
            "provider": self.provider,
            "event_id": self.event_id,
            "event_type": self.event_type,
            "status": self.status,
            "error": self.error,
            "attempts": self.attempts,
            "received_at": iso(self.received_at),
            "applied_at": None if self.applied_at is None else iso(self.applied_at),
            "size": len(self.body),
        }
        if body:
            out["headers"] = dict(self.headers)
            try:
                out["body"], out["body_encoding"] = self.body.decode("utf-8"), "utf-8"
            except UnicodeDecodeError:
                out["body"], out["body_encoding"] = base64.b64encode(self.body).decode(), "base64"
        return out


def _hook(r: Any) -> HookRow:
    return HookRow(
        r.id,
        r.integration_id,
        r.provider,
        r.event_id,
        r.event_type,
        dict(r.headers or {}),
        bytes(r.body),
        r.status,
        r.error,
        r.attempts,
        r.received_at,
        r.applied_at,
    )


def stored_headers(headers: Mapping[str, str], also: Sequence[str] = ()) -> dict[str, str]:
    """The headers worth keeping, names in lower case: no signature, HMAC, authorization, cookie or
    token header (nor the ones named in ``also``, e.g. a scheme's signature header)."""
    dropped = {h.lower() for h in also}
    return {
        name: value
        for name, value in ((n.lower(), v) for n, v in headers.items())
        if name not in dropped and "hmac" not in name and not is_secret_key(name)
    }


# writing -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stored:
    """Where a received webhook went: its inbox row, and whether that row was there already."""

    id: str
    duplicate: bool


class InboxWriter:
    """Group commit of received webhooks, one per hub (``hub.service(InboxWriter, ...)``).

    :meth:`store` returns once the row and its job committed; concurrent requests share
    transactions (:class:`~hubwire.store.group.GroupCommit`).
    """

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self._group: GroupCommit[dict[str, Any], Stored] = GroupCommit(
            self._write, limit=_BATCH, name="hubwire-inbox-writer"
        )

    async def store(
        self,
        *,
        integration_id: str,
        provider: str,
        event_id: str | None,
        event_type: str | None,
        headers: dict[str, str],
        body: bytes,
    ) -> Stored:
        row = {
            "id": new_ordered_ids("hook", 1)[0],
            "integration_id": integration_id,
            "provider": provider,
            "event_id": event_id,
            "event_type": event_type,
            "headers": headers,
            "body": body,
            "status": "received",
            "error": None,
            "attempts": 0,
            "received_at": self.hub.clock(),
            "applied_at": None,
        }
        return await self._group.submit(row)

    async def close(self) -> None:
        await self._group.close()

    async def _write(self, rows: list[dict[str, Any]]) -> list[Stored]:
        h = inbound_hooks.c
        insert = (postgresql.insert if self.hub.dialect == "postgresql" else sqlite.insert)(inbound_hooks)
        stmt = insert.values(rows).on_conflict_do_nothing(index_elements=["integration_id", "event_id"]).returning(h.id)
        async with self.hub.transaction() as tx:
            inserted = set((await tx.conn.execute(stmt)).scalars())
            out = {r["id"]: Stored(r["id"], False) for r in rows if r["id"] in inserted}
            dupes = [r for r in rows if r["id"] not in inserted]
            if dupes:
                keys = {(r["integration_id"], r["event_id"]) for r in dupes}
                q = sa.select(h.id, h.integration_id, h.event_id).where(
                    sa.or_(*(sa.and_(h.integration_id == i, h.event_id == e) for i, e in keys))
                )
                existing = {(r.integration_id, r.event_id): r.id for r in (await tx.conn.execute(q)).all()}
                for r in dupes:
                    out[r["id"]] = Stored(existing[r["integration_id"], r["event_id"]], True)
            # One live apply job per Integration takes all its waiting hooks (hubwire.inbound.apply).
            # Sorted: the live jobs are locked in one order by every writer (no deadlock on PostgreSQL).
            for integration_id in sorted({r["integration_id"] for r in rows if r["id"] in inserted}):
                await queue.enqueue(
                    tx, APPLY_JOB, {"integration": integration_id}, key=apply_key(integration_id), touch=True
                )
        return [out[r["id"]] for r in rows]


def apply_key(integration_id: str) -> str:
    """The key of the one live job that applies an Integration's waiting webhooks."""
    return f"{APPLY_JOB}:{integration_id}"


def _waiting(integration_id: str) -> sa.ColumnElement[bool]:
    # Received and never tried: the batch's. A hook tried before (a retry, a replay) has its own job.
    h = inbound_hooks.c
    return sa.and_(h.status == "received", h.integration_id == integration_id, h.attempts == 0)


async def waiting(hub: Hub, integration_id: str, limit: int) -> list[HookRow]:
    """Up to ``limit`` webhooks of ``integration_id`` waiting for their first apply, in the order received."""
    q = sa.select(inbound_hooks).where(_waiting(integration_id)).order_by(inbound_hooks.c.id).limit(limit)
    async with hub.read() as conn:
        return [_hook(r) for r in (await conn.execute(q)).all()]


async def any_waiting(tx: Tx, integration_id: str) -> bool:
    q = sa.select(inbound_hooks.c.id).where(_waiting(integration_id)).limit(1)
    return (await tx.conn.execute(q)).first() is not None


# reading ---------------------------------------------------------------------------------


async def list_received(
    hub: Hub,
    *,
    integration_id: str | None = None,
    status: str | None = None,
    event_type: str | None = None,
    limit: int = 50,
    before: str | None = None,
) -> list[HookRow]:
    """Received webhooks, newest first, filtered by integration, status and event type;
    ``before``: the next page, the rows received before that hook id."""
    if status is not None and status not in STATUSES:
        raise ValidationError.single("status", "enum", f"status must be one of: {', '.join(STATUSES)}")
    h = inbound_hooks.c
    # Ids sort by the time they were made: id order is arrival order.
    q = sa.select(inbound_hooks).order_by(h.id.desc()).limit(max(1, min(limit, 1000)))
    if integration_id:
        q = q.where(h.integration_id == integration_id)
    if status:
        q = q.where(h.status == status)
    if event_type:
        q = q.where(h.event_type == event_type)
    if before:
        q = q.where(h.id < before)
    async with hub.read() as conn:
        return [_hook(r) for r in (await conn.execute(q)).all()]


async def get_received(hub: Hub, hook_id: str) -> HookRow:
    async with hub.read() as conn:
        r = (await conn.execute(sa.select(inbound_hooks).where(inbound_hooks.c.id == hook_id))).first()
    if r is None:
        raise NotFoundError(f"no received webhook {hook_id}", hook_id=hook_id)
    return _hook(r)


async def replay(hub: Hub, hook_id: str) -> HookRow:
    """Apply a received webhook again: its status back to ``received`` and a new apply job.

    Refused (``ConflictError``) while a job that would apply it is still queued or running.
    """
    row = await get_received(hub, hook_id)
    j = jobs.c
    live = j.status.in_(("queued", "running"))
    mine = sa.and_(j.kind == APPLY_JOB, live, j.payload["hook"].as_string() == hook_id)
    if row.status == "received" and row.attempts == 0:  # waiting for its Integration's batch
        mine = sa.or_(mine, sa.and_(j.key == apply_key(row.integration_id), live))
    async with hub.transaction() as tx:
        if (await tx.conn.execute(sa.select(sa.exists().where(mine)))).scalar():
            raise ConflictError(f"{hook_id} is being applied already", code="apply_pending", hook_id=hook_id)
        await tx.conn.execute(
            inbound_hooks.update()
            .where(inbound_hooks.c.id == hook_id)
            .values(status="received", error=None, applied_at=None)
        )
        await queue.enqueue(tx, APPLY_JOB, {"hook": hook_id})
    return await get_received(hub, hook_id)


async def prune(hub: Hub, *, older_than: float | None = None) -> int:
    """Delete handled webhooks (applied, ignored, failed) received more than ``older_than`` seconds
    ago (default ``HUBWIRE_INBOUND_RETENTION_DAYS``; 0 keeps everything). Those still waiting to be
    applied are never deleted. Returns how many went; deletes in short chunks so writers wait little."""
    if older_than is None:
        older_than = hub.settings.inbound_retention_days * 86400.0
    if older_than <= 0:
        return 0
    h = inbound_hooks.c
    old = sa.and_(h.status.in_(_FINISHED), h.received_at < hub.clock() - older_than)
    chunk = inbound_hooks.delete().where(h.id.in_(sa.select(h.id).where(old).limit(_PRUNE_CHUNK)), old)
    total = 0
    while True:
        async with hub.transaction() as tx:
            gone = int((await tx.conn.execute(chunk)).rowcount or 0)
        total += gone
        if gone < _PRUNE_CHUNK:
            return total
