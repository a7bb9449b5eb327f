"""SQLite write transactions in one hop (``Hub.sqlite_write``), and driver-level statement lists."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa

from hubwire.errors import ConflictError
from hubwire.hub import Hub
from hubwire.jobs import job_kind, queue
from hubwire.store import statements
from hubwire.store.statements import Statement, Values, Writes, insert, run_on_cursor
from hubwire.store.tables import jobs


@pytest.fixture
async def lite(sqlite_url: str, tmp_path) -> Hub:  # type: ignore[no-untyped-def]
    async with Hub(database_url=sqlite_url, data_dir=tmp_path, secret_key="k" * 32) as hub:
        yield hub


def insert_jobs(ids: list[int]) -> list[Statement]:
    return [
        Statement(
            "INSERT INTO jobs (id, kind, payload, status, priority, run_at, attempts, max_attempts, created_at,"
            " updated_at) VALUES (?, 'k', '{}', 'done', 0, 0, 1, 1, 0, 0)",
            [(i,) for i in ids],
            many=True,
        ),
        Statement(
            f"SELECT id FROM jobs WHERE id IN ({', '.join('?' * len(ids))}) ORDER BY id", tuple(ids), returns=True
        ),
    ]


async def job_ids(hub: Hub) -> list[int]:
    async with hub.read() as conn:
        return list((await conn.execute(sa.select(jobs.c.id).order_by(jobs.c.id))).scalars())


@pytest.mark.parametrize("one_hop", [True, False], ids=["on-the-thread", "through-the-adapter"])
async def test_a_write_commits_all_its_statements_or_none(
    lite: Hub, one_hop: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not one_hop:  # an aiosqlite without the private hook: the adapter path must behave the same
        monkeypatch.setattr(statements, "_thread_runner", lambda driver: None)
    rows = await lite.sqlite_write(lambda cur: run_on_cursor(cur, insert_jobs([1, 2, 3])))
    assert [tuple(r) for r in rows] == [(1,), (2,), (3,)]
    assert await job_ids(lite) == [1, 2, 3]

    def half_then_fail(cur: object) -> None:
        run_on_cursor(cur, insert_jobs([4, 5]))
        raise ConflictError("changed my mind")

    with pytest.raises(ConflictError, match="changed my mind"):
        await lite.sqlite_write(half_then_fail)
    assert await job_ids(lite) == [1, 2, 3]  # rolled back: 4 and 5 are not there
    # The connection went back to the pool usable, outside any transaction.
    async with lite.transaction() as tx:
        await tx.conn.execute(sa.delete(jobs).where(jobs.c.id == 1))
    assert await job_ids(lite) == [2, 3]


async def test_an_empty_executemany_is_skipped(lite: Hub) -> None:
    stmt = Statement("INSERT INTO nowhere VALUES (?)", [], many=True)  # would fail if it ran
    assert await lite.sqlite_write(lambda cur: run_on_cursor(cur, [stmt])) == []


async def test_a_write_waits_for_another_processs_lock_then_commits(
    lite: Hub, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The one-hop write polls for the lock (not SQLite's sleeping busy handler) and gives up at its timeout."""
    import asyncio
    import sqlite3
    import time

    path = sqlite_url.removeprefix("sqlite:///")
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # another writer holds the lock for 0.2 s
    asyncio.get_running_loop().call_later(0.2, other.execute, "COMMIT")
    t0 = time.monotonic()
    await lite.sqlite_write(lambda cur: run_on_cursor(cur, insert_jobs([7])[:1]))
    assert 0.2 <= time.monotonic() - t0 < 5.0
    assert await job_ids(lite) == [7]

    monkeypatch.setattr(statements, "_BUSY_TIMEOUT", 0.1)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            await lite.sqlite_write(lambda cur: run_on_cursor(cur, insert_jobs([8])[:1]))
    finally:
        other.execute("ROLLBACK")
        other.close()
    monkeypatch.undo()
    # Nothing was written, and the connection's own busy timeout is back.
    assert await job_ids(lite) == [7]
    assert await lite.sqlite_write(lambda cur: cur.execute("PRAGMA busy_timeout").fetchone()[0]) == 30000


async def test_a_connection_returned_inside_a_transaction_is_rolled_back(lite: Hub) -> None:
    # The pool's reset rolls back only what is open (engine._sqlite_reset): check that it still does.
    async with lite.engine.connect() as conn:
        raw = await conn.get_raw_connection()
        driver = raw.driver_connection
        assert driver is not None
        await driver.execute("BEGIN IMMEDIATE")
        await driver.execute(
            "INSERT INTO jobs (id, kind, payload, status, priority, run_at, attempts, max_attempts, created_at,"
            " updated_at) VALUES (77, 'k', '{}', 'done', 0, 0, 1, 1, 0, 0)"
        )
        assert driver.in_transaction
    # Not committed, and the write lock is free again: the next write goes through at once.
    assert await job_ids(lite) == []
    await lite.sqlite_write(lambda cur: run_on_cursor(cur, insert_jobs([5])))
    assert await job_ids(lite) == [5]
    for _ in range(3):  # every pooled connection comes back out of any transaction
        async with lite.engine.connect() as conn:
            raw = await conn.get_raw_connection()
            assert raw.driver_connection is not None and not raw.driver_connection.in_transaction


def outbox_rows(dialect: str, n: int, payload_id: str = "pl_1") -> Statement:
    return insert(
        dialect, "lakehouse_outbox", [{"payload_id": payload_id, "count": i, "created_at": 1.0} for i in range(n)]
    )


async def test_inserts_commit_together_with_their_notify_or_not_at_all(hub: Hub) -> None:
    """On PostgreSQL inserts and NOTIFYs go as one statement (or pipelined when too many parameters
    for one, or when anything else is among them); on SQLite in one hop: the same outcome."""

    @job_kind("test.kind")
    async def _kind(payload: dict[str, Any]) -> None:
        """Never runs: no worker here."""

    dialect = hub.dialect
    listener = None
    if dialect == "postgresql":
        url = hub.settings.database_url.replace("postgresql+psycopg://", "postgresql://")
        listener = await psycopg.AsyncConnection.connect(url, autocommit=True)
        await listener.execute(f"LISTEN {queue.JOB_CHANNEL}")
    try:
        writes = Writes(dialect, [outbox_rows(dialect, 3)])
        queue.enqueue_into(writes, hub, "test.kind", {"n": 1}, key="a")  # an upsert, and its NOTIFY
        queue.enqueue_into(writes, hub, "test.kind", {"n": 2}, key="a")  # the same key: a no-op
        writes.statements.append(outbox_rows(dialect, 1, "pl_2"))
        await writes.commit(hub)
        # Inserts into one table not alike, one with ON CONFLICT: in order (the first of a key is kept).
        mixed = Writes(dialect)
        queue.enqueue_into(mixed, hub, "test.kind", {"n": 3}, key="b")
        queue.enqueue_into(mixed, hub, "test.kind", {"n": 4})
        queue.enqueue_into(mixed, hub, "test.kind", {"n": 5}, key="b")
        await mixed.commit(hub)
        # Too many parameters for one statement (3 columns x 11,000 rows); an UPDATE among them.
        await Writes(dialect, [outbox_rows(dialect, 11_000, "pl_3")]).commit(hub)
        mark = "%s" if dialect == "postgresql" else "?"
        update = Statement(f"UPDATE lakehouse_outbox SET count = count + 100 WHERE payload_id = {mark}", ("pl_2",))
        await Writes(dialect, [outbox_rows(dialect, 1, "pl_4"), update]).commit(hub)
        # A failing insert takes the others with it.
        head = "INSERT INTO lakehouse_outbox (payload_id)"
        failing = Statement(f"{head} VALUES (NULL)", values=Values("lakehouse_outbox", head, "(NULL)", ""))
        with pytest.raises((psycopg.errors.NotNullViolation, sqlite3.IntegrityError)):
            await Writes(dialect, [outbox_rows(dialect, 2, "pl_5"), failing]).commit(hub)
        async with hub.read() as conn:
            by_payload = sa.text(
                "SELECT payload_id, count(*), max(count) FROM lakehouse_outbox GROUP BY payload_id ORDER BY payload_id"
            )
            got = (await conn.execute(by_payload)).all()
            queued = (await conn.execute(sa.select(jobs.c.key, jobs.c.payload).order_by(jobs.c.id))).all()
        assert [tuple(r) for r in got] == [("pl_1", 3, 2), ("pl_2", 1, 100), ("pl_3", 11_000, 10_999), ("pl_4", 1, 0)]
        assert [(k, p if isinstance(p, dict) else json.loads(p)) for k, p in queued] == [
            ("a", {"n": 1}),
            ("b", {"n": 3}),
            (None, {"n": 4}),
        ]
        if listener is not None:
            # One NOTIFY per transaction that enqueued (collapsed within one), delivered as it committed.
            heard = [n.channel async for n in listener.notifies(timeout=5.0, stop_after=2)]
            assert heard == [queue.JOB_CHANNEL, queue.JOB_CHANNEL]
    finally:
        if listener is not None:
            await listener.close()
