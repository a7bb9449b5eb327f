"""Sync runs: one ``sync_runs`` row per run, with counts per Noun, duration and error text.

A run is ``running`` until it finishes ``succeeded``, ``failed`` or ``held`` (a reconciliation
that found more to delete than the deletion guard lets through deleted nothing: ``summary`` says
why); a unique partial index lets only one run per integration be ``running``. A run whose
heartbeat stopped (a crashed worker) for longer than :data:`STALE_AFTER` is marked failed when
the next one starts. The engine adds counts to the current run (a context variable) inside the transaction of each page.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from hubwire.errors import ConflictError, NotFoundError
from hubwire.net.redact import redact_text
from hubwire.store.events import iso
from hubwire.store.ids import new_id
from hubwire.store.tables import sync_runs

if TYPE_CHECKING:
    from hubwire.hub import Hub
    from hubwire.store.transaction import Tx

__all__ = [
    "COUNT_KINDS",
    "STALE_AFTER",
    "SyncRun",
    "current_run",
    "finish_run",
    "get_run",
    "list_runs",
    "running",
    "start_run",
]

STALE_AFTER = 600.0
COUNT_KINDS = ("created", "updated", "unchanged", "deleted", "failed", "conflicts")
_current: contextvars.ContextVar[SyncRun | None] = contextvars.ContextVar("hubwire_sync_run", default=None)


@dataclass
class SyncRun:
    id: str
    integration_id: str
    status: str
    full: bool
    started_at: float
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    records: int = 0
    error: str | None = None
    finished_at: float | None = None
    duration: float | None = None
    tick: float | None = None  # the scheduled tick this run serves; None when asked for by hand
    summary: str | None = None
    pages: int = 0  # the provider's pages stored so far
    # A full run's listing, in memory only: the remote ids seen per resource listed (reconcile.py).
    seen: dict[str, set[str]] = field(default_factory=dict, repr=False)

    def saw(self, resource: str, remote_ids: Iterable[str]) -> None:
        """Note that a listing of ``resource`` yielded ``remote_ids`` (it was listed, even if empty)."""
        self.seen.setdefault(resource, set()).update(remote_ids)

    def add(self, noun: str, kind: str, n: int = 1) -> None:
        per = self.counts.setdefault(noun, dict.fromkeys(COUNT_KINDS, 0))
        per[kind] = per.get(kind, 0) + n

    def total(self, kind: str) -> int:
        return sum(c.get(kind, 0) for c in self.counts.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "integration_id": self.integration_id,
            "status": self.status,
            "full": self.full,
            "counts": self.counts,
            "records": self.records,
            "pages": self.pages,
            "error": self.error,
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at) if self.finished_at is not None else None,
            "duration": self.duration,
            "tick": iso(self.tick) if self.tick is not None else None,
            "summary": self.summary,
        }

    @classmethod
    def from_row(cls, row: Any) -> SyncRun:
        return cls(
            row.id,
            row.integration_id,
            row.status,
            bool(row.full),
            row.started_at,
            dict(row.counts or {}),
            row.records,
            row.error,
            row.finished_at,
            row.duration,
            row.tick,
            row.summary,
            pages=row.pages,
        )


def current_run() -> SyncRun | None:
    return _current.get()


@contextlib.contextmanager
def running(run: SyncRun) -> Iterator[SyncRun]:
    token = _current.set(run)
    try:
        yield run
    finally:
        _current.reset(token)


async def start_run(hub: Hub, integration_id: str, *, full: bool = False, tick: float | None = None) -> SyncRun:
    """Record a new running run; ``ConflictError`` (code ``sync_running``) if one is running."""
    now = hub.clock()
    run = SyncRun(new_id("syncrun"), integration_id, "running", full, now, tick=tick)
    for _ in range(2):
        try:
            async with hub.transaction() as tx:
                await tx.conn.execute(
                    sync_runs.insert().values(
                        id=run.id,
                        integration_id=integration_id,
                        status="running",
                        full=full,
                        counts={},
                        records=0,
                        started_at=now,
                        heartbeat_at=now,
                        tick=tick,
                    )
                )
            return run
        except IntegrityError:
            if not await _abandon_stale(hub, integration_id, now):
                break
    raise ConflictError(
        f"a sync of {integration_id} is already running",
        code="sync_running",
        retryable=True,
        retry_after=60.0,  # a run's pages take seconds to minutes: look again in a minute
        integration_id=integration_id,
    )


async def _abandon_stale(hub: Hub, integration_id: str, now: float) -> bool:
    async with hub.transaction() as tx:
        res = await tx.conn.execute(
            sync_runs.update()
            .where(
                sync_runs.c.integration_id == integration_id,
                sync_runs.c.status == "running",
                sync_runs.c.heartbeat_at < now - STALE_AFTER,
            )
            .values(status="failed", error="abandoned: no heartbeat (worker crashed?)", finished_at=now)
        )
    return bool(res.rowcount)


async def heartbeat(tx: Tx, run: SyncRun) -> None:
    """Save the run's counts so far, in the transaction of the page they describe."""
    await tx.conn.execute(
        sync_runs.update()
        .where(sync_runs.c.id == run.id)
        .values(counts=run.counts, records=run.records, pages=run.pages, heartbeat_at=tx.hub.clock())
    )


async def finish_run(
    hub: Hub, run: SyncRun, *, error: str | None = None, records: int | None = None, held: str | None = None
) -> SyncRun:
    """Record the end of ``run``: ``failed`` with ``error``, ``held`` with why (``held``), else ``succeeded``."""
    now = hub.clock()
    run.status = "failed" if error is not None else "held" if held is not None else "succeeded"
    run.error = redact_text(error) if error is not None else None
    run.summary = held
    if records is not None:
        run.records = records
    run.finished_at = now
    run.duration = round(now - run.started_at, 6)
    async with hub.transaction() as tx:
        await tx.conn.execute(
            sync_runs.update()
            .where(sync_runs.c.id == run.id)
            .values(
                status=run.status,
                error=run.error,
                summary=run.summary,
                counts=run.counts,
                records=run.records,
                pages=run.pages,
                finished_at=now,
                heartbeat_at=now,
                duration=run.duration,
            )
        )
    return run


async def list_runs(hub: Hub, integration_id: str, *, limit: int = 50) -> list[SyncRun]:
    """The integration's runs, newest first."""
    q = (
        sa.select(sync_runs)
        .where(sync_runs.c.integration_id == integration_id)
        .order_by(sync_runs.c.started_at.desc(), sync_runs.c.id.desc())
        .limit(limit)
    )
    async with hub.read() as conn:
        return [SyncRun.from_row(r) for r in (await conn.execute(q)).all()]


async def get_run(hub: Hub, run_id: str) -> SyncRun:
    """One sync run by its id (``syncrun_...``); ``NotFoundError`` if there is none."""
    async with hub.read() as conn:
        row = (await conn.execute(sa.select(sync_runs).where(sync_runs.c.id == run_id))).first()
    if row is None:
        raise NotFoundError(f"no sync run {run_id}", id=run_id)
    return SyncRun.from_row(row)
