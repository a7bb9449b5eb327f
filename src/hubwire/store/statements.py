"""Driver-level statements, and SQLite write transactions run in one hop.

A hot path (the worker's claim, an attempt log batch) is a few statements with many rows each.
Through SQLAlchemy's async adapter every statement of a SQLite transaction is several hops
between the event loop and aiosqlite's thread, each waiting for a turn of a loop that is busy
with HTTP: measured on the webhook bench, a five-statement claim transaction took ~25 ms of wall
time for ~2 ms of SQLite work, and SQLite's one writer waited for it. :func:`sqlite_write` runs a
whole transaction (BEGIN IMMEDIATE, the statements, COMMIT) on the connection's own thread in
one hop; :class:`Statement` lists let the same writes run there or on a PostgreSQL connection.
:class:`Writes` is such a list with what to do once it committed: committed on its own (in one hop
on SQLite) or inside a transaction that writes more.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from hubwire.store.engine import SQLITE_BUSY_TIMEOUT_MS

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

    from hubwire.hub import Hub
    from hubwire.store.transaction import Tx

__all__ = ["Statement", "Writes", "insert", "run_on", "run_on_cursor", "sqlite_write"]

T = TypeVar("T")


@dataclass(frozen=True)
class Statement:
    """SQL in the driver's own parameter style (SQLite ``?``, psycopg ``%(name)s``) with its parameters.

    ``many``: ``params`` is a list of rows (executemany). ``returns``: its rows are wanted.
    """

    sql: str
    params: Any = ()
    many: bool = False
    returns: bool = False


def insert(
    dialect: str,
    table: str,
    rows: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    *,
    jsonb: Sequence[str] = (),
    suffix: str = "",
) -> Statement:
    """``INSERT INTO table`` of one row (a mapping) or many (a list of mappings with the same keys),
    in the driver's parameter style. ``jsonb``: columns given as JSON text, cast on PostgreSQL;
    ``suffix``: what follows the values (``ON CONFLICT ...``)."""
    many = not isinstance(rows, Mapping)
    listed: list[Mapping[str, Any]] = [rows] if isinstance(rows, Mapping) else list(rows)
    columns: list[str] = list(listed[0])
    if dialect == "postgresql":
        marks = ", ".join(f"CAST(%({c})s AS jsonb)" if c in jsonb else f"%({c})s" for c in columns)
        params: list[Any] = [dict(r) for r in listed]
    else:
        marks = ", ".join("?" for _ in columns)
        params = [tuple(r[c] for c in columns) for r in listed]
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks}){suffix}"
    return Statement(sql, params if many else params[0], many=many)


@dataclass
class Writes:
    """Statements that commit together, and the callbacks to run once they did (never if they did not).

    Built by the parts of a hot path (each appends its statements), then :meth:`commit` ted alone or
    :meth:`run_in` another transaction. ``state``: what a part keeps while the list is built, under
    a key of its own (as ``Tx.state``).
    """

    dialect: str
    statements: list[Statement] = field(default_factory=list)
    after_commit: list[Callable[[], None]] = field(default_factory=list)
    state: dict[object, Any] = field(default_factory=dict)

    async def run_in(self, tx: Tx) -> None:
        """Run the statements in ``tx``; the callbacks once it committed."""
        await run_on(tx.conn, self.statements)
        for fn in self.after_commit:
            tx.after_commit(fn)

    async def commit(self, hub: Hub) -> None:
        """One transaction of their own: on SQLite in one hop to the connection's thread; on
        PostgreSQL pipelined (BEGIN, the statements and COMMIT sent without waiting for each answer)."""
        statements = self.statements
        if self.dialect == "sqlite":
            await hub.sqlite_write(lambda cur: run_on_cursor(cur, statements))
        else:
            async with hub.autocommit() as conn:
                raw = await conn.get_raw_connection()
                await _pg_pipeline(raw.driver_connection, statements)
        for fn in self.after_commit:
            fn()


async def _pg_pipeline(pg: Any, statements: Sequence[Statement]) -> None:
    """``statements`` in one transaction on a psycopg connection in autocommit, in pipeline mode."""
    async with pg.pipeline(), pg.transaction(), pg.cursor() as cur:
        for s in statements:
            if s.many:
                if s.params:
                    await cur.executemany(s.sql, s.params)
            else:
                await cur.execute(s.sql, s.params or None)


def run_on_cursor(cur: Any, statements: Sequence[Statement]) -> list[Any]:
    """Run ``statements`` on a DB-API cursor; the rows of those that return rows, in order."""
    rows: list[Any] = []
    for s in statements:
        if s.many:
            if s.params:
                cur.executemany(s.sql, s.params)
            continue
        cur.execute(s.sql, s.params)
        if s.returns:
            rows.extend(cur.fetchall())
    return rows


async def run_on(conn: AsyncConnection, statements: Sequence[Statement]) -> list[Any]:
    """Run ``statements`` on a SQLAlchemy async connection, at driver level; rows as :func:`run_on_cursor`."""
    rows: list[Any] = []
    for s in statements:
        if s.many and not s.params:
            continue
        result = await conn.exec_driver_sql(s.sql, s.params)
        if s.returns:
            rows.extend(result.all())
    return rows


async def sqlite_write(engine: AsyncEngine, fn: Callable[[Any], T]) -> T:
    """Run ``fn(cursor)`` in one SQLite write transaction (BEGIN IMMEDIATE ... COMMIT), in one hop.

    ``fn`` runs on the connection's own thread: it must only use the cursor it is given, and it
    must not await. The caller serialises writers (``store.transaction.transaction`` does the same with its
    lock). An exception rolls the transaction back and is raised here.
    """
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        driver: Any = raw.driver_connection
        run = _thread_runner(driver)
        if run is None:
            # An aiosqlite without the thread hook this uses: the same transaction through the
            # adapter's cursor (correct, one hop per statement).
            return await conn.run_sync(lambda _sync: _transaction(raw.dbapi_connection, fn))
        return await run(lambda: _transaction(driver._conn, fn))  # type: ignore[no-any-return]


def _thread_runner(driver: Any) -> Any:
    """aiosqlite's own "run this on the connection's thread" (private, stable since 0.x), if it has one."""
    run = getattr(driver, "_execute", None)
    return run if run is not None and hasattr(driver, "_conn") else None


def _begin_immediate(cur: Any) -> None:
    """BEGIN IMMEDIATE, waiting for another process's write lock in short steps.

    SQLite's own busy handler sleeps 1, 2, 5, 10, 15, 20, 25 ... 100 ms between tries, so a writer
    that finds the lock taken often oversleeps its release by milliseconds (the bench saw both
    CPUs 12-20% idle while a producer and two workers took turns). Here: tries every 0.5 ms, up to
    the connection's busy timeout.
    """
    import sqlite3

    cur.execute("PRAGMA busy_timeout=0")
    try:
        deadline = time.monotonic() + _BUSY_TIMEOUT
        while True:
            try:
                cur.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
            time.sleep(0.0005)
    finally:
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")


_BUSY_TIMEOUT = SQLITE_BUSY_TIMEOUT_MS / 1000.0  # seconds


def _transaction(dbapi_conn: Any, fn: Callable[[Any], T]) -> T:
    cur = dbapi_conn.cursor()
    try:
        _begin_immediate(cur)
        try:
            result = fn(cur)
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        cur.execute("COMMIT")
        return result
    finally:
        cur.close()
