"""Per-integration sync schedules: one ``sync_schedules`` row each, ticks claimed by the workers.

A row holds the integration's frequency and reconciliation cadence (:mod:`hubwire.sync.frequency`)
and when each is next due. Every worker looks for due rows every few seconds
(:func:`claim_due`); claiming a tick is ONE transaction: a conditional UPDATE of the row (it must
still be at the ``revision`` the worker read, so of many workers exactly one wins), moving it to
the next tick after now, and the enqueue of the sync job (keyed by integration: at most one is
queued or running). A tick that finds a sync of the integration queued or running is not claimed:
it stays due and runs once that sync is over, never beside it. Ticks missed while every worker
was down (or while a long sync ran) are one due tick: the next is always computed from now,
never from the tick missed.

Times come from the hub's :class:`SchedulerClock` (the hub's own clock unless a test gives one).
This module never runs a sync: the job it enqueues does.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
import structlog
from sqlalchemy.dialects import postgresql, sqlite

from hubwire.store.events import iso
from hubwire.store.tables import sync_schedules
from hubwire.sync.frequency import Frequency, parse_frequency

if TYPE_CHECKING:
    from hubwire.hub import Hub
    from hubwire.store.transaction import Tx

__all__ = [
    "DEFAULT_RECONCILE",
    "Schedule",
    "SchedulerClock",
    "StartTick",
    "claim_due",
    "drop_schedule",
    "get_schedule",
    "next_times",
    "save_schedule",
    "scheduler_now",
]

log = structlog.get_logger("hubwire.schedules")
DEFAULT_RECONCILE = "daily"
_CLAIM_BATCH = 100  # due rows read per pass; the rest wait for the next pass (seconds later)

# (tx, integration id, full, tick) -> whether a sync job was enqueued (False: one is queued or running)
StartTick = Callable[["Tx", str, bool, float], Awaitable[bool]]


class SchedulerClock:
    """What time the schedules think it is: the hub's clock by default (tests give one of their own)."""

    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        self.clock = clock


def scheduler_now(hub: Hub) -> float:
    clock = hub.service(SchedulerClock).clock
    return clock() if clock is not None else hub.clock()


@dataclass(frozen=True)
class Schedule:
    integration_id: str
    frequency: str
    reconcile: str
    next_run_at: float | None
    next_reconcile_at: float | None
    last_tick_at: float | None
    revision: int

    def to_dict(self) -> dict[str, Any]:
        def at(t: float | None) -> str | None:
            return iso(t) if t is not None else None

        return {
            "integration_id": self.integration_id,
            "frequency": self.frequency,
            "reconcile": self.reconcile,
            "next_run_at": at(self.next_run_at),
            "next_reconcile_at": at(self.next_reconcile_at),
            "last_tick_at": at(self.last_tick_at),
        }


def next_times(
    frequency: Frequency, reconcile: Frequency, integration_id: str, now: float
) -> tuple[float | None, float | None]:
    """When a schedule set now next syncs, and next reconciles."""
    return frequency.next_after(now, integration_id), reconcile.next_after(now, integration_id)


def _upsert(dialect: str) -> Any:
    ins: Any = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(sync_schedules)
    return ins.on_conflict_do_update(
        index_elements=["integration_id"],
        set_={
            "frequency": ins.excluded.frequency,
            "reconcile": ins.excluded.reconcile,
            "next_run_at": ins.excluded.next_run_at,
            "next_reconcile_at": ins.excluded.next_reconcile_at,
            # A claim that read the row before this change loses its conditional UPDATE.
            "revision": sync_schedules.c.revision + 1,
            "updated_at": ins.excluded.updated_at,
        },
    )


async def save_schedule(
    tx: Tx,
    integration_id: str,
    frequency: Frequency,
    reconcile: Frequency,
    next_run_at: float | None,
    next_reconcile_at: float | None,
) -> None:
    """Set an integration's schedule in ``tx`` (the transaction of the Integration's change)."""
    row = {
        "integration_id": integration_id,
        "frequency": frequency.text,
        "reconcile": reconcile.text,
        "next_run_at": next_run_at,
        "next_reconcile_at": next_reconcile_at,
        "revision": 1,
        "updated_at": tx.hub.clock(),
    }
    await tx.conn.execute(_upsert(tx.dialect), [row])


async def drop_schedule(tx: Tx, integration_id: str) -> None:
    await tx.conn.execute(sync_schedules.delete().where(sync_schedules.c.integration_id == integration_id))


def _schedule(row: Any) -> Schedule:
    return Schedule(
        row.integration_id,
        row.frequency,
        row.reconcile,
        row.next_run_at,
        row.next_reconcile_at,
        row.last_tick_at,
        row.revision,
    )


async def get_schedule(hub: Hub, integration_id: str) -> Schedule | None:
    async with hub.read() as conn:
        q = sa.select(sync_schedules).where(sync_schedules.c.integration_id == integration_id)
        row = (await conn.execute(q)).first()
    return _schedule(row) if row is not None else None


class _Lost(Exception):
    """Another worker claimed this tick first (or the schedule changed): roll back, enqueue nothing."""


class _Busy(Exception):
    """A sync of the integration is queued or running: roll the claim back, the tick stays due."""


async def claim_due(hub: Hub, start: StartTick) -> int:
    """Claim every due tick (at most a batch): each claim with its sync job (``start``) in one
    transaction. Returns how many syncs this call started."""
    now = scheduler_now(hub)
    c = sync_schedules.c
    due = sa.or_(c.next_run_at <= now, c.next_reconcile_at <= now)
    async with hub.read() as conn:
        rows = (
            await conn.execute(sa.select(sync_schedules).where(due).order_by(c.integration_id).limit(_CLAIM_BATCH))
        ).all()
    started = 0
    for row in rows:
        try:
            started += await _claim(hub, _schedule(row), now, start)
        except _Lost:
            continue
        except Exception as exc:  # one broken schedule must not stop the others
            log.error("schedule.claim_failed", integration=row.integration_id, error=str(exc))
    return started


async def _claim(hub: Hub, s: Schedule, now: float, start: StartTick) -> int:
    frequency = parse_frequency(s.frequency)
    reconcile = parse_frequency(s.reconcile, field="reconcile_frequency")
    run_due = s.next_run_at is not None and s.next_run_at <= now
    reconcile_due = s.next_reconcile_at is not None and s.next_reconcile_at <= now
    ticks = [
        t
        for t in (
            frequency.due(now, s.integration_id) if run_due else None,
            reconcile.due(now, s.integration_id) if reconcile_due else None,
        )
        if t is not None
    ]
    tick = max(ticks) if ticks else now
    next_run = frequency.next_after(now, s.integration_id) if run_due else s.next_run_at
    next_reconcile = reconcile.next_after(now, s.integration_id) if reconcile_due else s.next_reconcile_at
    c = sync_schedules.c
    try:
        async with hub.transaction() as tx:
            claimed = await tx.conn.execute(
                sync_schedules.update()
                .where(c.integration_id == s.integration_id, c.revision == s.revision)
                .values(
                    next_run_at=next_run,
                    next_reconcile_at=next_reconcile,
                    last_tick_at=tick,
                    revision=c.revision + 1,
                    updated_at=tx.hub.clock(),
                )
            )
            if claimed.rowcount != 1:
                raise _Lost
            if not await start(tx, s.integration_id, reconcile_due, tick):
                raise _Busy
    except _Busy:
        # A sync of this integration is queued or running (or its job not yet marked done): the tick
        # stays due, and runs once that one is over, never beside it.
        return 0
    return 1
