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
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from hubwire.store.engine import SQLITE_BUSY_TIMEOUT_MS

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

    from hubwire.hub import Hub
    from hubwire.store.transaction import Tx

__all__ = ["Statement", "Values", "Writes", "insert", "notify", "run_on", "run_on_cursor", "sqlite_write"]

T = TypeVar("T")


class Values(NamedTuple):
    """An INSERT made by :func:`insert`, in parts (so that PostgreSQL can take it with others in one
    statement: :meth:`Writes.commit`)."""

    table: str
    head: str  # INSERT INTO table (columns)
    row: str  # one row's placeholders
    suffix: str  # what follows the rows (ON CONFLICT ...), or ""


@dataclass(frozen=True)
class Statement:
    """SQL in the driver's own parameter style (SQLite ``?``, psycopg ``%s``) with its parameters.

    ``many``: ``params`` is a list of rows (executemany). ``returns``: its rows are wanted.
    ``values``: the parts of an INSERT made by :func:`insert`. ``notify``: a NOTIFY of that channel.
    """

    sql: str
    params: Any = ()
    many: bool = False
    returns: bool = False
    values: Values | None = None
    notify: str | None = None


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
        marks = ", ".join("CAST(%s AS jsonb)" if c in jsonb else "%s" for c in columns)
    else:
        marks = ", ".join("?" for _ in columns)
    params = [tuple(r[c] for c in columns) for r in listed]
    parts = Values(table, f"INSERT INTO {table} ({', '.join(columns)})", f"({marks})", suffix)
    return Statement(f"{parts.head} VALUES {parts.row}{suffix}", params if many else params[0], many=many, values=parts)


def notify(dialect: str, channel: str) -> Statement:
    """PostgreSQL: ``NOTIFY channel`` (delivered when, and if, the transaction commits)."""
    assert dialect == "postgresql", "NOTIFY is PostgreSQL's"
    return Statement(f"NOTIFY {channel}", notify=channel)


# Bind parameters of one PostgreSQL statement at most (the protocol's limit is 65,535).
_MAX_PARAMS = 32_000


def _as_one(statements: Sequence[Statement]) -> Statement | None:
    """PostgreSQL: inserts and NOTIFYs as one statement; None when one of them is something else,
    when their parameters are too many for one statement, or when their order could matter.

    The rows of the inserts alike (:class:`Values`) go, in order, in one data-modifying ``WITH``
    query; each NOTIFY becomes a ``pg_notify`` call. One statement is one round trip, and atomic on
    a connection in autocommit; pipelined, each statement waited on the event loop for the socket
    once more: a collect transaction of six took ~0.5 ms more of this process's CPU, and ~0.2 ms
    more of the server's. The ``WITH`` queries of one statement run in no set order, so inserts
    into one table that are not alike go one at a time when one has an ``ON CONFLICT`` clause
    (which of two rows with one key is kept would be left to chance).
    """
    inserts: dict[Values, list[Any]] = {}
    channels: list[str] = []
    count = 0
    for s in statements:
        if s.notify is not None:
            if s.notify not in channels:
                channels.append(s.notify)
            continue
        if s.values is None or s.returns:
            return None
        rows = s.params if s.many else [s.params]
        inserts.setdefault(s.values, []).extend(rows)
        count += sum(len(r) for r in rows)
        if count > _MAX_PARAMS:
            return None
    tables = [v.table for v, rows in inserts.items() if rows]
    if any(v.suffix and tables.count(v.table) > 1 for v, rows in inserts.items() if rows):
        return None
    queries: list[str] = []
    params: list[Any] = []
    for v, rows in inserts.items():
        if rows:
            queries.append(f"w{len(queries)} AS ({v.head} VALUES {', '.join([v.row] * len(rows))}{v.suffix})")
            for r in rows:
                params.extend(r)
    if not queries and not channels:
        return None
    params.extend(channels)
    select = "SELECT " + (", ".join("pg_notify(%s, '')" for _ in channels) or "1")
    return Statement(("WITH " + ", ".join(queries) + " " if queries else "") + select, tuple(params))


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
        PostgreSQL one statement when they are inserts and NOTIFYs (:func:`_as_one`), else pipelined
        (BEGIN, the statements and COMMIT sent without waiting for each answer)."""
        statements = self.statements
        if self.dialect == "sqlite":
            await hub.sqlite_write(lambda cur: run_on_cursor(cur, statements))
        else:
            one = _as_one(statements)
            async with hub.autocommit() as conn:
                pg: Any = (await conn.get_raw_connection()).driver_connection
                if one is not None:
                    await pg.execute(one.sql, one.params)
                elif statements:
                    await _pg_pipeline(pg, statements)
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
