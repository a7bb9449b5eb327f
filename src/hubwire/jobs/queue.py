"""The durable job queue, in the same database as the entities.

Jobs are enqueued inside the caller's transaction (so an event and its jobs commit together).
Workers claim batches with a lease: on PostgreSQL with ``FOR UPDATE SKIP LOCKED``; on SQLite
inside the one write transaction, which already excludes other writers. A lease that expires
(the worker died) is reaped back to ``queued``; a job whose attempts are spent goes ``dead``.
Completion is fenced by (worker, attempts): a worker that lost its lease cannot finish a job
another worker has taken over.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from hubwire import jsonfast
from hubwire.errors import ConflictError, NotFoundError, ValidationError
from hubwire.jobs.kinds import Finisher, Job, forgetting_kinds, get_kind
from hubwire.store.events import iso
from hubwire.store.statements import Statement, Writes, insert, notify, run_on, run_on_cursor
from hubwire.store.tables import JSONDoc, jobs

if TYPE_CHECKING:
    from hubwire.hub import Hub
    from hubwire.store.transaction import Tx

__all__ = [
    "JOB_CHANNEL",
    "JobRow",
    "JobSignal",
    "claim",
    "complete",
    "enqueue",
    "enqueue_into",
    "enqueue_many",
    "extend",
    "fail",
    "get_job",
    "is_live",
    "job_signal",
    "list_jobs",
    "prune",
    "reap",
    "release",
    "release_key",
    "retry_dead",
    "retry_job",
    "wake_workers",
    "withdraw",
]

STATUSES = ("queued", "running", "done", "dead")
JOB_CHANNEL = "hubwire_jobs"  # PostgreSQL: a commit that enqueued jobs NOTIFYs workers on it
_WAKES = object()  # the Tx.state (or Writes.state) key: this transaction already wakes workers when it commits
_LIVE_KEY = "key IS NOT NULL AND status IN ('queued', 'running')"  # the jobs whose key is taken


class JobSignal(asyncio.Event):
    """Set when jobs became ready in this process (enqueued and committed, given back): wakes its workers."""


def job_signal(hub: Hub) -> JobSignal:
    """The hub's job signal (one per hub, in this process)."""
    return hub.service(JobSignal)


def wake_workers(tx: Tx) -> None:
    """Once ``tx`` committed, wake the workers: this process's now, every process's by NOTIFY.

    For every write that makes jobs ready to run (enqueued, requeued, brought forward); once per
    transaction, however many times it is called.
    """
    if _WAKES in tx.state:
        return
    tx.state[_WAKES] = True
    if tx.dialect == "postgresql":
        # Inside the transaction: PostgreSQL delivers a NOTIFY only if, and when, it commits.
        tx.before_commit(lambda: tx.conn.execute(sa.text(f"NOTIFY {JOB_CHANNEL}")))
    tx.after_commit(job_signal(tx.hub).set)


@dataclass(frozen=True)
class JobRow:
    id: int
    kind: str
    status: str
    attempts: int
    max_attempts: int
    run_at: float
    last_error: str | None
    payload: dict[str, Any]
    key: str | None
    created_at: float
    updated_at: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "status": self.status,
            "attempts": self.attempts,
            "max_attempts": self.max_attempts,
            "run_at": iso(self.run_at),
            "last_error": self.last_error,
            "payload": self.payload,
            "key": self.key,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
        }


def _row(
    kind: str,
    payload: dict[str, Any],
    now: float,
    run_at: float | None,
    priority: int,
    max_attempts: int | None,
    key: str | None,
) -> dict[str, Any]:
    return {
        "kind": kind,
        "payload": payload,
        "status": "queued",
        "priority": priority,
        "run_at": now if run_at is None else run_at,
        "attempts": 0,
        "max_attempts": max_attempts if max_attempts is not None else get_kind(kind).max_attempts,
        "key": key,
        "created_at": now,
        "updated_at": now,
    }


async def enqueue(
    tx: Tx,
    kind: str,
    payload: dict[str, Any],
    *,
    run_at: float | None = None,
    delay: float | None = None,
    priority: int = 0,
    max_attempts: int | None = None,
    key: str | None = None,
    touch: bool = False,
) -> int | None:
    """Enqueue one job in ``tx``. With a ``key``, a live job with the same key makes this a no-op (None).

    ``touch``: that live job is instead locked (its ``updated_at`` touched) until ``tx`` ends, and
    its id returned, so that a running job giving its key up (:func:`release_key`) either sees what
    ``tx`` wrote or lets this enqueue make a new job: coalescing work into one live job per key
    loses nothing.
    """
    now = tx.hub.clock()
    if delay is not None:
        run_at = now + delay
    values = _row(kind, payload, now, run_at, priority, max_attempts, key)
    if key is None:
        stmt: Any = jobs.insert().values(**values).returning(jobs.c.id)
    else:
        ins = (postgresql.insert if tx.dialect == "postgresql" else sqlite.insert)(jobs).values(**values)
        live = sa.text(_LIVE_KEY)
        if touch:
            upsert = ins.on_conflict_do_update(index_elements=["key"], index_where=live, set_={"updated_at": now})
            stmt = upsert.returning(jobs.c.id)
            job_id = (await tx.conn.execute(stmt)).scalar_one()
            wake_workers(tx)  # (when it only touched a live job, a wake finds nothing new: harmless)
            return int(job_id)
        stmt = ins.on_conflict_do_nothing(index_elements=["key"], index_where=live).returning(jobs.c.id)
    job_id = (await tx.conn.execute(stmt)).scalar_one_or_none()
    if job_id is not None:
        wake_workers(tx)
    return job_id


def enqueue_into(
    writes: Writes,
    hub: Hub,
    kind: str,
    payload: dict[str, Any],
    *,
    run_at: float | None = None,
    max_attempts: int | None = None,
    key: str | None = None,
) -> None:
    """:func:`enqueue` as a statement of ``writes`` (a hot path's one-hop transaction), waking the
    workers once they committed. With a ``key``, a live job with the same key makes it a no-op."""
    values = _row(kind, payload, hub.clock(), run_at, 0, max_attempts, key)
    values["payload"] = jsonfast.dumps(payload)
    conflict = f" ON CONFLICT (key) WHERE {_LIVE_KEY} DO NOTHING" if key is not None else ""
    writes.statements.append(insert(writes.dialect, "jobs", values, jsonb=("payload",), suffix=conflict))
    if _WAKES not in writes.state:
        writes.state[_WAKES] = True
        if writes.dialect == "postgresql":
            writes.statements.append(notify(writes.dialect, JOB_CHANNEL))
        writes.after_commit.append(job_signal(hub).set)


async def release_key(
    hub: Hub,
    job: Job,
    *,
    unless: Callable[[Tx], Awaitable[bool]] | None = None,
    then: Callable[[Tx], Awaitable[Any]] | None = None,
) -> bool:
    """Give up the key of ``job`` (running), so that the next enqueue with it makes a new job, unless
    ``unless(tx)``, read in the same transaction once the job's row is locked; ``then(tx)`` runs
    in that transaction once the key is free. Whether it gave the key up.

    For a job that takes all the work of its key (the waiting webhooks of an Integration): it gives
    its key up only when ``unless`` finds no work left. An enqueue with ``touch`` that committed
    before is seen by ``unless``; one after finds the key free and makes a new job.
    """
    async with hub.transaction() as tx:
        # First the lock (PostgreSQL: an enqueue holding it finishes first, and unless() sees it).
        mine = sa.and_(jobs.c.id == job.id, jobs.c.attempts == job.attempts, jobs.c.status == "running")
        await tx.conn.execute(jobs.update().where(mine).values(updated_at=hub.clock()))
        if unless is not None and await unless(tx):
            return False
        await tx.conn.execute(jobs.update().where(mine).values(key=None))
        if then is not None:
            await then(tx)
    return True


async def enqueue_many(
    tx: Tx,
    kind: str,
    payloads: Iterable[dict[str, Any]],
    *,
    run_at: float | None = None,
    priority: int = 0,
    max_attempts: int | None = None,
) -> int:
    """Enqueue many jobs of one kind in ``tx`` (no keys); returns how many."""
    now = tx.hub.clock()
    # One statement over one JSON array of the payloads (encoded in one call, parsed once by the
    # database), not one bound row per job.
    docs = list(payloads)
    if docs:
        attempts = max_attempts if max_attempts is not None else get_kind(kind).max_attempts
        await tx.conn.execute(
            _ENQUEUE_MANY[tx.dialect],
            {
                "kind": kind,
                "docs": jsonfast.dumps(docs),
                "priority": priority,
                "run_at": now if run_at is None else run_at,
                "max_attempts": attempts,
                "now": now,
            },
        )
        wake_workers(tx)
    return len(docs)


_ENQUEUE_MANY = {
    "postgresql": sa.text(
        "INSERT INTO jobs (kind, payload, status, priority, run_at, attempts, max_attempts, created_at, updated_at) "
        "SELECT :kind, d.doc, 'queued', :priority, :run_at, 0, :max_attempts, :now, :now "
        "FROM jsonb_array_elements(CAST(:docs AS jsonb)) WITH ORDINALITY AS d(doc, i) ORDER BY i"
    ),
    # json_each gives an object element as its JSON text: stored as the JSON type stores it.
    "sqlite": sa.text(
        "INSERT INTO jobs (kind, payload, status, priority, run_at, attempts, max_attempts, created_at, updated_at) "
        "SELECT :kind, value, 'queued', :priority, :run_at, 0, :max_attempts, :now, :now "
        "FROM json_each(:docs) ORDER BY key"
    ),
}


# Completions, fenced by (worker, attempt): kept as 'done', or deleted for the kinds that keep no
# done rows (:forget). Both touch only 'running' rows, the claim only 'queued' ones.
_PG_DONE = """
    UPDATE jobs SET status = 'done', lease_until = NULL, updated_at = :now
    FROM unnest(CAST(:ids AS bigint[]), CAST(:att AS int[])) AS d(id, att)
    WHERE jobs.id = d.id AND jobs.attempts = d.att AND jobs.worker = :worker AND jobs.status = 'running'
        AND jobs.kind <> ALL(CAST(:forget AS text[]))
    RETURNING jobs.id
"""
_PG_GONE = """
    DELETE FROM jobs USING unnest(CAST(:ids AS bigint[]), CAST(:att AS int[])) AS d(id, att)
    WHERE jobs.id = d.id AND jobs.attempts = d.att AND jobs.worker = :worker AND jobs.status = 'running'
        AND jobs.kind = ANY(CAST(:forget AS text[]))
    RETURNING jobs.id
"""
_PG_CLAIM = """
WITH {done}ready AS MATERIALIZED (
    SELECT id FROM jobs
    WHERE status = 'queued' AND run_at <= :now {kinds}
    ORDER BY priority, run_at, id
    LIMIT :limit
    FOR UPDATE SKIP LOCKED
)
UPDATE jobs SET status = 'running', attempts = jobs.attempts + 1, lease_until = :lease_until,
    worker = :worker, updated_at = :now
FROM ready WHERE jobs.id = ready.id
RETURNING jobs.id, jobs.kind, jobs.payload, jobs.attempts, jobs.max_attempts, jobs.key
"""
# (with completions, with kinds) -> statement
_PG_CLAIMS = {
    (with_done, with_kinds): sa.text(
        _PG_CLAIM.format(
            done=f"done AS ({_PG_DONE}), gone AS ({_PG_GONE}), " if with_done else "",
            kinds="AND kind = ANY(CAST(:kinds AS text[]))" if with_kinds else "",
        )
    ).columns(payload=JSONDoc)
    for with_done in (False, True)
    for with_kinds in (False, True)
}
_PG_COMPLETE = sa.text(
    f"WITH done AS ({_PG_DONE}), gone AS ({_PG_GONE}) SELECT (SELECT count(*) FROM done) + (SELECT count(*) FROM gone)"
)


async def claim(
    hub: Hub,
    worker: str,
    limit: int,
    lease: float,
    kinds: Sequence[str] | None = None,
    *,
    done: Sequence[tuple[int, int]] = (),
    finish: Sequence[tuple[Finisher, list[Any]]] = (),
) -> list[Job]:
    """Lease up to ``limit`` ready jobs to ``worker`` for ``lease`` seconds; each claim is one attempt.

    ``done`` piggybacks a :func:`complete` of (job id, attempt) pairs on the same statement (PostgreSQL)
    or transaction (SQLite): a busy worker finishes one batch and takes the next in one round trip.
    ``finish`` are the kinds' writers of those jobs' returned values, run first on the same connection.
    """
    now = hub.clock()
    stmts = _finish_statements(hub, finish)
    if hub.dialect == "postgresql":
        # A materialised CTE: the locking subquery runs once, so LIMIT and SKIP LOCKED hold exactly.
        # The completions touch only 'running' rows, the claim only 'queued' ones: never the same row.
        params: dict[str, Any] = {"now": now, "limit": limit, "lease_until": now + lease, "worker": worker}
        if kinds:
            params["kinds"] = list(kinds)
        if done:
            params.update(ids=[d[0] for d in done], att=[d[1] for d in done], forget=list(forgetting_kinds()))
        async with hub.autocommit() as conn:
            await run_on(conn, stmts)
            rows = (await conn.execute(_PG_CLAIMS[bool(done), bool(kinds)], params)).all()
        return sorted((Job(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows), key=lambda j: j.id)

    # SQLite: the writes, the completions and the claim as one transaction, in one hop to the thread.
    claim_sql = _SQLITE_CLAIM.format(kinds=f" AND kind IN ({', '.join('?' * len(kinds))})" if kinds else "")
    claim_params = (now + lease, worker, now, now, *(kinds or ()), limit)

    def work(cur: Any) -> list[Any]:
        run_on_cursor(cur, stmts)
        _complete_on_cursor(cur, worker, done, now)
        cur.execute(claim_sql, claim_params)
        return list(cur.fetchall())

    rows = await hub.sqlite_write(work)
    return sorted((Job(r[0], r[1], jsonfast.loads(r[2]), r[3], r[4], r[5]) for r in rows), key=lambda j: j.id)


@functools.cache
def _sqlite_completions(forget: tuple[str, ...]) -> tuple[str, str]:
    """The fenced completion statements: kept as 'done', and deleted for the kinds in ``forget``."""
    kinds = ", ".join("'" + k.replace("'", "''") + "'" for k in forget)  # quoted SQL literals
    fence = "id = ? AND attempts = ? AND worker = ? AND status = 'running'"
    return (
        f"UPDATE jobs SET status = 'done', lease_until = NULL, updated_at = ? WHERE {fence} AND kind NOT IN ({kinds})",
        f"DELETE FROM jobs WHERE {fence} AND kind IN ({kinds})",
    )


def _complete_on_cursor(cur: Any, worker: str, done: Sequence[tuple[int, int]], now: float) -> int:
    if not done:
        return 0
    keep, gone = _sqlite_completions(forgetting_kinds())
    cur.executemany(keep, [(now, jid, att, worker) for jid, att in done])
    kept = int(cur.rowcount or 0)
    cur.executemany(gone, [(jid, att, worker) for jid, att in done])
    return kept + int(cur.rowcount or 0)


# The ready subquery must read ix_jobs_ready in order and stop at LIMIT. Left to itself (no ANALYZE
# statistics) SQLite's planner picked ix_jobs_status_kind and sorted every queued job on each claim:
# 7.9 ms instead of 0.8 ms for 53 of 20,000 queued jobs, growing with the queue.
_SQLITE_CLAIM = (
    "UPDATE jobs SET status = 'running', attempts = attempts + 1, lease_until = ?, worker = ?, updated_at = ? "
    "WHERE id IN (SELECT id FROM jobs INDEXED BY ix_jobs_ready WHERE status = 'queued' AND run_at <= ?{kinds} "
    "ORDER BY priority, run_at, id LIMIT ?) "
    "RETURNING id, kind, payload, attempts, max_attempts, key"
)


def _finish_statements(hub: Hub, finish: Sequence[tuple[Finisher, list[Any]]]) -> list[Statement]:
    return [stmt for write, values in finish for stmt in write(hub, values)]


async def complete(
    hub: Hub, worker: str, done: Sequence[tuple[int, int]], *, finish: Sequence[tuple[Finisher, list[Any]]] = ()
) -> int:
    """Mark (job id, attempt) pairs done, if this worker still holds them; returns how many it did.

    ``finish``: as for :func:`claim`, the kinds' writers of the jobs' returned values, run first.
    """
    if not done:
        return 0
    now = hub.clock()
    stmts = _finish_statements(hub, finish)
    if hub.dialect == "postgresql":
        params = {
            "now": now,
            "ids": [d[0] for d in done],
            "att": [d[1] for d in done],
            "worker": worker,
            "forget": list(forgetting_kinds()),
        }
        async with hub.autocommit() as conn:
            await run_on(conn, stmts)
            return int((await conn.execute(_PG_COMPLETE, params)).scalar_one())

    def work(cur: Any) -> int:
        run_on_cursor(cur, stmts)
        return _complete_on_cursor(cur, worker, done, now)

    return await hub.sqlite_write(work)


async def fail(hub: Hub, worker: str, job: Job, error: str, retry_in: float | None) -> str:
    """Record a failed attempt: back to ``queued`` after ``retry_in`` seconds, or ``dead``.

    Fenced like :func:`complete`: returns ``"lost"`` and changes nothing if ``worker`` no longer
    holds this attempt (its lease expired and the job was taken back).
    """
    now = hub.clock()
    dead = retry_in is None or job.attempts >= job.max_attempts
    values: dict[str, Any] = {"lease_until": None, "last_error": error[:4000], "updated_at": now}
    if dead:
        values["status"] = "dead"
    else:
        values.update(status="queued", run_at=now + max(0.0, retry_in or 0.0), worker=None)
    async with hub.transaction() as tx:
        res = await tx.conn.execute(
            jobs.update()
            .where(
                jobs.c.id == job.id,
                jobs.c.attempts == job.attempts,
                jobs.c.worker == worker,
                jobs.c.status == "running",
            )
            .values(**values)
        )
        if not res.rowcount:
            return "lost"
        if not dead:
            wake_workers(tx)
    return "dead" if dead else "queued"


async def release(hub: Hub, worker: str, held: Sequence[tuple[int, int]]) -> None:
    """Give back (job id, attempt) pairs this worker claimed but never started: queued again, as if
    never claimed (the claim's attempt is not counted). Fenced like a completion."""
    if not held:
        return
    stmt = (
        jobs.update()
        .where(
            jobs.c.id == sa.bindparam("b_id"),
            jobs.c.attempts == sa.bindparam("b_att"),
            jobs.c.worker == worker,
            jobs.c.status == "running",
        )
        .values(status="queued", attempts=jobs.c.attempts - 1, lease_until=None, worker=None, updated_at=hub.clock())
    )
    await _write_one(hub, stmt, [{"b_id": jid, "b_att": att} for jid, att in held])
    job_signal(hub).set()  # a worker of this process may take them now


async def _write_one(hub: Hub, stmt: sa.Executable, params: Any = None) -> None:
    """One write statement on its own: PostgreSQL autocommit, or a SQLite write transaction."""
    if hub.dialect == "postgresql":
        async with hub.autocommit() as conn:
            await conn.execute(stmt, params)
        return
    async with hub.transaction() as tx:
        await tx.conn.execute(stmt, params)


async def extend(hub: Hub, worker: str, ids: Sequence[int], lease: float) -> None:
    if not ids:
        return
    now = hub.clock()
    stmt = (
        jobs.update()
        .where(jobs.c.id.in_(list(ids)), jobs.c.worker == worker, jobs.c.status == "running")
        .values(lease_until=now + lease)
    )
    await _write_one(hub, stmt)


async def reap(hub: Hub) -> int:
    """Take back jobs whose lease expired: requeue them, or dead-letter those out of attempts."""
    now = hub.clock()
    expired = sa.and_(jobs.c.status == "running", jobs.c.lease_until < now)
    async with hub.transaction() as tx:
        dead = await tx.conn.execute(
            jobs.update()
            .where(expired, jobs.c.attempts >= jobs.c.max_attempts)
            .values(
                status="dead",
                lease_until=None,
                last_error="lease expired: the worker stopped",
                updated_at=now,
            )
        )
        back = await tx.conn.execute(
            jobs.update()
            .where(expired)
            .values(
                status="queued",
                lease_until=None,
                worker=None,
                run_at=now,
                last_error="lease expired: the worker stopped",
                updated_at=now,
            )
        )
        n = int(back.rowcount or 0)
        if n:
            wake_workers(tx)
    return n + int(dead.rowcount or 0)


def _jobrow(r: Any) -> JobRow:
    return JobRow(
        r.id,
        r.kind,
        r.status,
        r.attempts,
        r.max_attempts,
        r.run_at,
        r.last_error,
        r.payload,
        r.key,
        r.created_at,
        r.updated_at,
    )


async def list_jobs(
    hub: Hub,
    *,
    status: str | None = None,
    kind: str | None = None,
    limit: int = 50,
    after_id: int | None = None,
) -> list[JobRow]:
    if status is not None and status not in STATUSES:
        raise ValidationError.single("status", "enum", f"status must be one of: {', '.join(STATUSES)}")
    q = sa.select(jobs).order_by(jobs.c.id.desc()).limit(max(1, min(limit, 1000)))
    if status:
        q = q.where(jobs.c.status == status)
    if kind:
        q = q.where(jobs.c.kind == kind)
    if after_id is not None:
        q = q.where(jobs.c.id < after_id)
    async with hub.read() as conn:
        return [_jobrow(r) for r in (await conn.execute(q)).all()]


async def prune(hub: Hub, *, older_than: float) -> int:
    """Delete done jobs finished more than ``older_than`` seconds ago. Dead jobs are kept for replay."""
    cutoff = hub.clock() - older_than
    async with hub.transaction() as tx:
        res = await tx.conn.execute(jobs.delete().where(jobs.c.status == "done", jobs.c.updated_at < cutoff))
    return int(res.rowcount or 0)


async def get_job(hub: Hub, job_id: int) -> JobRow:
    async with hub.read() as conn:
        r = (await conn.execute(sa.select(jobs).where(jobs.c.id == job_id))).first()
    if r is None:
        raise NotFoundError(f"no job {job_id}", job_id=job_id)
    return _jobrow(r)


async def is_live(hub: Hub, key: str) -> bool:
    """Whether a job holding ``key`` is queued or running (e.g. an integration's sync: ``sync:<id>``)."""
    q = sa.select(jobs.c.id).where(jobs.c.key == key, jobs.c.status.in_(("queued", "running"))).limit(1)
    async with hub.read() as conn:
        return (await conn.execute(q)).first() is not None


async def withdraw(tx: Tx, key: str, *, unless: Callable[[dict[str, Any]], bool] | None = None) -> int | None:
    """Delete the queued (not yet claimed) job holding ``key``, unless ``unless(payload)``; its id, if any.

    For a request that was made obsolete before any worker took it (a manual sync did its work).
    """
    row = (
        await tx.conn.execute(sa.select(jobs.c.id, jobs.c.payload).where(jobs.c.key == key, jobs.c.status == "queued"))
    ).first()
    if row is None or (unless is not None and unless(dict(row.payload or {}))):
        return None
    res = await tx.conn.execute(jobs.delete().where(jobs.c.id == row.id, jobs.c.status == "queued"))
    return int(row.id) if res.rowcount else None


def _live_key_elsewhere() -> sa.ColumnElement[bool]:
    other = jobs.alias("other")
    return sa.exists().where(other.c.key == jobs.c.key, other.c.status.in_(("queued", "running")))


async def retry_job(hub: Hub, job_id: int) -> JobRow:
    """Put a dead (or done) job back in the queue with fresh attempts."""
    job = await get_job(hub, job_id)
    if job.status in ("queued", "running"):
        raise ConflictError(f"job {job_id} is {job.status}; only dead or done jobs can be retried", job_id=job_id)
    now = hub.clock()
    async with hub.transaction() as tx:
        res = await tx.conn.execute(
            jobs.update()
            .where(jobs.c.id == job_id, jobs.c.status.in_(("dead", "done")))
            .where(sa.or_(jobs.c.key.is_(None), ~_live_key_elsewhere()))
            .values(status="queued", attempts=0, run_at=now, lease_until=None, worker=None, updated_at=now)
        )
        if not res.rowcount:
            raise ConflictError(
                f"job {job_id} cannot be retried: it changed, or another live job holds its key", job_id=job_id
            )
        wake_workers(tx)
    return await get_job(hub, job_id)


async def retry_dead(hub: Hub, *, kind: str | None = None, since: float | None = None) -> int:
    """Requeue every dead job (of ``kind``, dead-lettered since ``since``).

    A keyed job is requeued only if no live job holds its key, and only the newest dead one per key,
    so the one-live-job-per-key rule holds.
    """
    now = hub.clock()
    where: list[sa.ColumnElement[bool]] = [jobs.c.status == "dead"]
    if kind:
        where.append(jobs.c.kind == kind)
    if since is not None:
        where.append(jobs.c.updated_at >= since)
    newer = jobs.alias("newer")
    newer_dead = sa.exists().where(newer.c.key == jobs.c.key, newer.c.status == "dead", newer.c.id > jobs.c.id)
    keyed_ok = sa.and_(~_live_key_elsewhere(), ~newer_dead)
    async with hub.transaction() as tx:
        res = await tx.conn.execute(
            jobs.update()
            .where(*where)
            .where(sa.or_(jobs.c.key.is_(None), keyed_ok))
            .values(status="queued", attempts=0, run_at=now, lease_until=None, worker=None, updated_at=now)
        )
        n = int(res.rowcount or 0)
        if n:
            wake_workers(tx)
    return n
