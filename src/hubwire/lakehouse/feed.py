"""The feed: collected and forwarded events into the Iceberg table, in batches, each exactly once.

Durable: :func:`record` is an :func:`hubwire.analytics.on_forward` hook, so the collected and
forwarded events of a transaction become a ``lakehouse_outbox`` row (that holds their payload,
:mod:`hubwire.analytics.payloads`, stored once for the destinations and the lakehouse) in the
transaction that commits them, with an append job due at the end of the
``HUBWIRE_LAKEHOUSE_FLUSH_INTERVAL``-second window, or at once when ``HUBWIRE_LAKEHOUSE_BATCH_SIZE``
events gathered (:class:`hubwire.jobs.windows.Windows`). Every worker's periodic tick enqueues that
job again while events wait longer than the interval (one that arrived while the job was finishing).

Exactly once, per batch: the append job claims rows of up to ``HUBWIRE_LAKEHOUSE_BATCH_SIZE`` events under a
new batch name (one write), appends them to the table in one Iceberg commit whose snapshot carries
that name, then deletes the rows. A worker killed between the claim and the delete leaves claimed
rows; after :data:`LEASE` seconds the next append job takes the batch over and first looks for its
name among the table's snapshots: found, the rows are only deleted; not found, they are appended.
Two appenders of one batch (a worker thought dead that was only slow) cannot both commit: the
table's commits are optimistic without pyiceberg's retries, so the second fails on its stale view,
reloads, finds the name and stops. Snapshots (and the names in them) are expired only while no
batch is claimed (:func:`upkeep`), so the check always has the history it needs.

Upkeep (every worker, ten-minute period): compaction of the days with more than one file, the
retention (``HUBWIRE_LAKEHOUSE_RETENTION_DAYS``), and expiry of snapshots older than an hour with
the data files only they referenced.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
import structlog
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.table import Table

from hubwire import jsonfast
from hubwire.analytics import AnalyticsEvent, on_forward
from hubwire.analytics.destinations import events_of
from hubwire.analytics.payloads import Payload, release
from hubwire.extensions import on_hub
from hubwire.jobs import queue
from hubwire.jobs.kinds import Backoff, Job, job_kind
from hubwire.jobs.windows import Windows
from hubwire.lakehouse import table as iceberg
from hubwire.store.statements import Writes, insert, run_on
from hubwire.store.tables import analytics_payloads, lakehouse_outbox

if TYPE_CHECKING:
    from hubwire.hub import Hub

__all__ = [
    "APPEND_JOB",
    "LEASE",
    "Lakehouse",
    "append_pending",
    "compact",
    "exists",
    "lakehouse",
    "pending",
    "record",
    "stats",
    "upkeep",
]

log = structlog.get_logger("hubwire.lakehouse")

APPEND_JOB = "lakehouse.append"
LEASE = 120.0  # seconds a claimed batch is its appender's before another takes it over
KEEP_SNAPSHOTS = 3600.0  # seconds of table history kept (time travel, the exactly-once check)
COMMIT_ATTEMPTS = 5
SOURCES = {"hubwire": "noun", "collect": "collect"}


class Lakehouse:
    """A hub's catalog, made once (closed with the hub); one writer at a time in this process."""

    def __init__(self) -> None:
        self.catalog: SqlCatalog | None = None
        self.lock = asyncio.Lock()

    def fresh(self, hub: Hub) -> Table:
        """The table as committed now, a Table of the caller's own (blocking: call in a thread).

        Never a shared one: pyiceberg's ``refresh`` changes a Table in place, under another
        thread's feet (a query's, an append's).
        """
        if self.catalog is None:
            self.catalog = iceberg.catalog(hub.settings)
        return self.catalog.load_table(iceberg.TABLE)

    def close(self) -> None:
        if self.catalog is not None:
            self.catalog.engine.dispose()
            self.catalog = None


def lakehouse(hub: Hub) -> Lakehouse:
    return hub.service(Lakehouse)


async def in_thread(hub: Hub, fn: Any, *args: Any) -> Any:
    """``fn(table, *args)`` on the freshly loaded table, in a thread (pyiceberg blocks)."""
    lh = lakehouse(hub)
    return await asyncio.to_thread(lambda: fn(lh.fresh(hub), *args))


# The feed -----------------------------------------------------------------------------------


def record(hub: Hub, writes: Writes, payload: Payload) -> None:
    """The on_forward hook: the payload's events into the outbox (one row that holds it), and the
    append job, in ``writes``."""
    settings = hub.settings
    events = payload.events
    if not settings.lakehouse or not events:
        return
    row = {"payload_id": payload.hold(), "count": len(events), "created_at": hub.clock()}
    writes.statements.append(insert(writes.dialect, "lakehouse_outbox", row))
    hub.service(Windows).enqueue_into(
        writes,
        hub,
        APPEND_JOB,
        {},
        name="lakehouse",
        items=len(events),
        interval=settings.lakehouse_flush_interval,
        batch=settings.lakehouse_batch_size,
    )


def _row(e: AnalyticsEvent, recorded_at: float) -> iceberg.Row:
    return iceberg.Row(
        id=e.id,
        event=e.name,
        timestamp=e.timestamp,
        source=SOURCES.get(e.source, e.source),
        distinct_id=e.distinct_id or None,
        properties=jsonfast.dumps(e.properties, default=str) if e.properties else None,
        recorded_at=recorded_at,
    )


async def _claim(hub: Hub, limit: int) -> tuple[str, float] | None:
    """Name a batch of the oldest unclaimed rows that hold up to ``limit`` events (at least one
    row); None when there are none."""
    name, now = uuid.uuid4().hex, hub.clock()
    async with hub.transaction() as tx:
        found = (
            await tx.conn.execute(
                sa.select(lakehouse_outbox.c.id, lakehouse_outbox.c.count)
                .where(lakehouse_outbox.c.batch.is_(None))
                .order_by(lakehouse_outbox.c.id)
                .limit(limit)  # a row holds at least one event
            )
        ).all()
        if not found:
            return None
        ids: list[int] = []
        events = 0
        for row_id, count in found:
            if ids and events + count > limit:
                break
            ids.append(row_id)
            events += count
        done = await tx.conn.execute(
            lakehouse_outbox.update()
            .where(lakehouse_outbox.c.id.in_(ids), lakehouse_outbox.c.batch.is_(None))
            .values(batch=name, claimed_at=now)
        )
    return (name, now) if done.rowcount else await _claim(hub, limit)


async def _stale(hub: Hub) -> list[tuple[str, float]]:
    """Batches claimed longer than the lease ago (their appender died, or is very slow)."""
    q = (
        sa.select(lakehouse_outbox.c.batch, sa.func.min(lakehouse_outbox.c.claimed_at))
        .where(lakehouse_outbox.c.batch.is_not(None), lakehouse_outbox.c.claimed_at < hub.clock() - LEASE)
        .group_by(lakehouse_outbox.c.batch)
    )
    async with hub.read() as conn:
        return [(r[0], float(r[1])) for r in (await conn.execute(q)).all()]


def _commit(lh: Lakehouse, hub: Hub, name: str, rows: Sequence[iceberg.Row]) -> bool:
    """Append ``rows`` as batch ``name`` unless a snapshot already carries it; whether this appended."""
    for attempt in range(COMMIT_ATTEMPTS):
        table = lh.fresh(hub)
        if name in iceberg.committed_batches(table, 0):
            return False
        try:
            iceberg.append(table, name, rows)
            return True
        except iceberg.CommitFailedException:  # another commit landed first: look again
            if attempt == COMMIT_ATTEMPTS - 1:
                raise
            time.sleep(0.05 * (attempt + 1))
    return False


async def _append_batch(hub: Hub, name: str) -> int:
    """Batch ``name`` into the table (once), then out of the outbox; how many events it appended."""
    async with hub.read() as conn:
        found = (
            await conn.execute(
                sa.select(lakehouse_outbox.c.payload_id, analytics_payloads.c.events, lakehouse_outbox.c.created_at)
                .join(analytics_payloads, analytics_payloads.c.id == lakehouse_outbox.c.payload_id)
                .where(lakehouse_outbox.c.batch == name)
                .order_by(lakehouse_outbox.c.id)
            )
        ).all()
    if not found:
        return 0
    rows = [_row(e, r.created_at) for r in found for e in events_of(r.events)]
    lh = lakehouse(hub)
    async with lh.lock:
        appended = await asyncio.to_thread(_commit, lh, hub, name, rows)
    # Crash here: the rows stay claimed, and the next appender finds the batch's name and deletes them.
    async with hub.transaction() as tx:
        await tx.conn.execute(lakehouse_outbox.delete().where(lakehouse_outbox.c.batch == name))
        await run_on(tx.conn, release(hub.dialect, [r.payload_id for r in found]))
    log.info("lakehouse.appended", batch=name, events=len(rows), already_in_table=not appended)
    return len(rows) if appended else 0


async def append_pending(hub: Hub) -> int:
    """Append every event waiting in the outbox (batches of ``HUBWIRE_LAKEHOUSE_BATCH_SIZE``); how many.

    The SDK's flush (and the append job): what it returns is in the table when it returns.
    """
    total = 0
    for name, _ in await _stale(hub):
        total += await _append_batch(hub, name)
    while (claimed := await _claim(hub, hub.settings.lakehouse_batch_size)) is not None:
        total += await _append_batch(hub, claimed[0])
    return total


@job_kind(APPEND_JOB, max_attempts=20, backoff=Backoff(base=2.0, factor=2.0, max=300.0), timeout=None)
async def _append_job(job: Job, hub: Hub) -> int:
    return await append_pending(hub)


@dataclass(frozen=True)
class Pending:
    """The outbox: events waiting (unclaimed) and claimed by an appender."""

    waiting: int
    claimed: int
    oldest: float | None


async def pending(hub: Hub) -> Pending:
    c = lakehouse_outbox.c
    q = sa.select(
        sa.func.sum(c.count).filter(c.batch.is_(None)),
        sa.func.sum(c.count).filter(c.batch.is_not(None)),
        sa.func.min(c.created_at),
    )
    async with hub.read() as conn:
        waiting, claimed, oldest = (await conn.execute(q)).one()
    return Pending(int(waiting or 0), int(claimed or 0), None if oldest is None else float(oldest))


async def reschedule(hub: Hub) -> int:
    """Periodic: the append job again when events wait longer than the interval (none left behind)."""
    if not hub.settings.lakehouse:
        return 0
    due = hub.clock() - hub.settings.lakehouse_flush_interval
    q = sa.select(lakehouse_outbox.c.id).where(lakehouse_outbox.c.created_at <= due).limit(1)
    async with hub.read() as conn:
        if (await conn.execute(q)).first() is None:
            return 0
    async with hub.transaction() as tx:
        started = await queue.enqueue(tx, APPEND_JOB, {}, key=APPEND_JOB)
    return 0 if started is None else 1


# Upkeep: compaction, retention, expiry ---------------------------------------------------------


async def compact(hub: Hub, days: Sequence[dt.date] | None = None) -> dict[dt.date, int]:
    """Rewrite each day's data files into one (every day with more than one, or ``days``).

    Returns the days rewritten with the number of files each had.
    """
    lh = lakehouse(hub)

    def run(table: Table) -> dict[dt.date, int]:
        chosen = days if days is not None else [d for d, n in iceberg.files_per_day(table).items() if n > 1]
        return iceberg.compact(table, chosen)

    async with lh.lock:
        result: dict[dt.date, int] = await in_thread(hub, run)
    return result


async def drop_expired(hub: Hub) -> int:
    """Retention: delete the days older than ``HUBWIRE_LAKEHOUSE_RETENTION_DAYS``; how many events."""
    days = hub.settings.lakehouse_retention_days
    if not days:
        return 0
    cutoff = dt.datetime.fromtimestamp(hub.clock() - days * 86400, dt.UTC).date()
    async with lakehouse(hub).lock:
        gone: int = await in_thread(hub, iceberg.drop_before, cutoff)
    return gone


async def expire_snapshots(hub: Hub, keep: float = KEEP_SNAPSHOTS) -> int:
    """Forget snapshots older than ``keep`` seconds and delete the files only they used; how many files.

    Skipped while a batch is claimed: its appender (or the one that takes it over) needs the
    snapshots to know whether the batch is already in the table.
    """
    if (await pending(hub)).claimed:
        return 0
    older = dt.datetime.fromtimestamp(time.time() - keep, dt.UTC)  # snapshots carry wall-clock times
    async with lakehouse(hub).lock:
        gone: int = await in_thread(hub, iceberg.expire, older)
    return gone


async def exists(hub: Hub) -> bool:
    """Whether the table was created (by a first append): pyiceberg's catalog has its row."""

    def look(conn: sa.Connection) -> bool:
        if not sa.inspect(conn).has_table("iceberg_tables"):
            return False
        q = sa.text("SELECT 1 FROM iceberg_tables WHERE table_namespace = :ns AND table_name = 'events'")
        return conn.execute(q, {"ns": iceberg.NAMESPACE}).first() is not None

    async with hub.read() as conn:
        return await conn.run_sync(look)


async def stats(hub: Hub) -> dict[str, Any]:
    """The table now: ``rows``, ``files`` and ``days`` (files per day), and the outbox (``pending``)."""
    waiting = await pending(hub)
    out: dict[str, Any] = {"rows": 0, "files": 0, "days": {}, "pending": waiting.waiting + waiting.claimed}
    if await exists(hub):

        def look(table: Table) -> tuple[Any, Any]:
            return iceberg.counts(table), iceberg.files_per_day(table)

        totals, days = await in_thread(hub, look)
        out.update(totals, days={d.isoformat(): n for d, n in sorted(days.items())})
    return out


async def upkeep(hub: Hub) -> int:
    """Every worker, now and then: retention, compaction, expiry; how many events and files it removed."""
    if not hub.settings.lakehouse:
        return 0
    if not await exists(hub):
        return 0
    removed = await drop_expired(hub)
    removed += sum((await compact(hub)).values())
    removed += await expire_snapshots(hub)
    return removed


on_forward(record)


@on_hub
def install(hub: Hub) -> None:
    if reschedule not in hub.periodic:
        hub.periodic.append(reschedule)
    if upkeep not in hub.maintenance:
        hub.maintenance.append(upkeep)
