"""SQLite write transactions in one hop (``Hub.sqlite_write``), and driver-level statement lists."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from hubwire.errors import ConflictError
from hubwire.hub import Hub
from hubwire.store import statements
from hubwire.store.statements import Statement, run_on_cursor
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
