"""Transactions on a hub's database: :class:`Tx` (one write transaction) and the ways to open one.

A :class:`Tx` collects the events appended in it and runs callbacks just before it commits
(``before_commit``: flush batched inserts, send a NOTIFY) and once it committed
(``after_commit``: wake a worker, clear a cache). It knows nothing of what its callers write:
the job queue registers its own NOTIFY, the webhook fan-out its own batch (``tx.state``).

SQLite has one writer: write transactions of one process take turns on a lock (and ``BEGIN
IMMEDIATE`` across processes); :func:`sqlite_write` is the one-hop form for hot paths.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from hubwire.store import statements

if TYPE_CHECKING:
    from hubwire.hub import Hub
    from hubwire.store.events import EventRecord

__all__ = ["Tx", "autocommit", "read", "sqlite_write", "transaction"]

T = TypeVar("T")


class Tx:
    """One write transaction. Jobs and events added here commit or vanish together."""

    def __init__(self, hub: Hub, conn: AsyncConnection) -> None:
        self.hub = hub
        self.conn = conn
        self.dialect = hub.dialect
        self.events: list[EventRecord] = []
        self.event_lock_held = False
        # What a subsystem keeps for the length of this transaction, under a key of its own.
        self.state: dict[object, Any] = {}
        self._after_commit: list[Callable[[], Awaitable[None] | None]] = []
        self._before_commit: list[Callable[[], Awaitable[Any]]] = []

    def after_commit(self, fn: Callable[[], Awaitable[None] | None]) -> None:
        """Run ``fn`` once the transaction committed (never if it rolled back)."""
        self._after_commit.append(fn)

    def before_commit(self, fn: Callable[[], Awaitable[Any]]) -> None:
        """Run ``fn`` inside the transaction just before it commits (e.g. to flush batched inserts).

        Callbacks run in the order registered; one may register more (they run too).
        """
        self._before_commit.append(fn)


class _WriteLock:
    """The lock a hub's SQLite writers take turns on."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()


@asynccontextmanager
async def transaction(hub: Hub) -> AsyncIterator[Tx]:
    """A write transaction; callbacks registered with ``after_commit`` run once it committed."""
    if hub.dialect == "sqlite":
        # One writer: serialise in-process, and BEGIN IMMEDIATE across processes.
        async with hub.service(_WriteLock).lock, hub.engine.connect() as conn:
            conn = await conn.execution_options(hubwire_sqlite_begin="IMMEDIATE")
            async with _scope(hub, conn) as tx:
                yield tx
    else:
        async with hub.engine.connect() as conn, _scope(hub, conn) as tx:
            yield tx


@asynccontextmanager
async def _scope(hub: Hub, conn: AsyncConnection) -> AsyncIterator[Tx]:
    await conn.begin()
    tx = Tx(hub, conn)
    try:
        yield tx
        i = 0
        while i < len(tx._before_commit):  # a callback may register another
            await tx._before_commit[i]()
            i += 1
    except BaseException:
        await conn.rollback()
        raise
    await conn.commit()
    for fn in tx._after_commit:
        res = fn()
        if res is not None:
            await res


async def sqlite_write(hub: Hub, fn: Callable[[Any], T]) -> T:
    """SQLite only: ``fn(cursor)`` as one write transaction on the connection's thread, in one hop.

    For hot paths whose statements are known up front (the worker's claim); see
    :func:`hubwire.store.statements.sqlite_write`. Serialised with :func:`transaction`.
    """
    async with hub.service(_WriteLock).lock:
        return await statements.sqlite_write(hub.engine, fn)


@asynccontextmanager
async def read(hub: Hub) -> AsyncIterator[AsyncConnection]:
    async with hub.engine.connect() as conn:
        yield conn


@asynccontextmanager
async def autocommit(hub: Hub) -> AsyncIterator[AsyncConnection]:
    """PostgreSQL: a connection in autocommit, for statements each atomic and durable on its own.

    One round trip each instead of BEGIN, statement, COMMIT (the worker's claim, completion and
    attempt record). Such a statement must enqueue nothing: no NOTIFY is sent for it.
    """
    async with hub.engine.connect() as conn:
        yield await conn.execution_options(isolation_level="AUTOCOMMIT")
