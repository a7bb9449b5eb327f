"""The Hub: one configured Hubwire (database, vault, providers, clock) and its transactions.

Nouns are declared once, globally; the Hub they act on is the *current* one: set with
``hub.activate()`` (or ``async with Hub(...)``), else a default Hub built from the
environment, one per event loop. A :class:`Tx` is one database transaction that collects the
events it appended and the jobs it enqueued, and runs callbacks only after it commits.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hubwire.settings import Settings
from hubwire.store.engine import make_engine, migrate
from hubwire.store.statements import sqlite_write
from hubwire.vault import Vault, load_or_create_key

T = TypeVar("T")

if TYPE_CHECKING:
    from hubwire.connectors.registry import ProviderRegistry
    from hubwire.nouns.noun import Noun
    from hubwire.store.events import EventRecord

__all__ = ["Hub", "Tx", "configure", "current_hub"]

EventSink = Callable[["Tx", "EventRecord"], Awaitable[None]]
JOB_CHANNEL = "hubwire_jobs"

_current: contextvars.ContextVar[Hub | None] = contextvars.ContextVar("hubwire_hub", default=None)
_defaults: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Hub] = weakref.WeakKeyDictionary()
_default_settings: Settings | None = None


class Tx:
    """One write transaction. Jobs and events added here commit or vanish together."""

    def __init__(self, hub: Hub, conn: AsyncConnection) -> None:
        self.hub = hub
        self.conn = conn
        self.dialect = hub.dialect
        self.events: list[EventRecord] = []
        self.jobs_enqueued = 0
        self.event_lock_held = False
        self._after_commit: list[Callable[[], Awaitable[None] | None]] = []
        self._before_commit: list[Callable[[], Awaitable[None]]] = []

    def after_commit(self, fn: Callable[[], Awaitable[None] | None]) -> None:
        self._after_commit.append(fn)

    def before_commit(self, fn: Callable[[], Awaitable[None]]) -> None:
        """Run ``fn`` inside the transaction just before it commits (e.g. to flush batched inserts)."""
        self._before_commit.append(fn)


class Hub:
    def __init__(
        self,
        settings: Settings | None = None,
        *,
        database_url: str | None = None,
        clock: Callable[[], float] | None = None,
        providers: ProviderRegistry | None = None,
        **overrides: Any,
    ) -> None:
        if database_url is not None:
            overrides["database_url"] = database_url
        base = settings or Settings()
        self.settings = base.replace(**overrides) if overrides else base
        self.dialect = self.settings.dialect
        self.clock: Callable[[], float] = clock or time.time
        from hubwire.connectors.registry import default_registry

        self.providers: ProviderRegistry = providers or default_registry
        self.event_sinks: list[EventSink] = []
        # Upkeep every worker runs now and then (ten-minute period): each prunes what it owns and
        # returns how many rows it deleted. Extensions add theirs (webhooks: old delivery history).
        self.maintenance: list[Callable[[Hub], Awaitable[int]]] = []
        self.job_signal = asyncio.Event()
        self._engine: AsyncEngine | None = None
        self._write_lock = asyncio.Lock()
        self._indexed: set[str] = set()
        self._vault: Vault | None = None
        self._started = False
        self._start_lock = asyncio.Lock()
        self._closers: list[Callable[[], Awaitable[None]]] = []
        from hubwire.extensions import install_extensions

        install_extensions(self)

    # lifecycle -----------------------------------------------------------------
    @property
    def engine(self) -> AsyncEngine:
        if self._engine is None:
            self._engine = make_engine(self.settings.database_url, sqlite_synchronous=self.settings.sqlite_synchronous)
        return self._engine

    @property
    def vault(self) -> Vault:
        if self._vault is None:
            self._vault = Vault(load_or_create_key(self.settings.secret_key, self.settings.data_dir))
        return self._vault

    async def start(self) -> Hub:
        async with self._start_lock:
            if not self._started:
                if self.settings.auto_migrate:
                    await migrate(self.settings.database_url)
                self._started = True
        return self

    def add_closer(self, fn: Callable[[], Awaitable[None]]) -> None:
        """Register a resource (an HTTP session, a client pool) to release when the hub closes."""
        self._closers.append(fn)

    async def close(self) -> None:
        closers, self._closers = self._closers, []
        for fn in reversed(closers):
            await fn()
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None
        self._started = False
        self._indexed.clear()

    async def __aenter__(self) -> Hub:
        await self.start()
        self._token = _current.set(self)
        return self

    async def __aexit__(self, *exc: object) -> None:
        _current.reset(self._token)
        await self.close()

    def activate(self) -> contextvars.Token[Hub | None]:
        return _current.set(self)

    # transactions ----------------------------------------------------------------
    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        """A write transaction; callbacks registered with ``after_commit`` run once it committed."""
        if self.dialect == "sqlite":
            # One writer: serialise in-process, and BEGIN IMMEDIATE across processes.
            async with self._write_lock, self.engine.connect() as conn:
                conn = await conn.execution_options(hubwire_sqlite_begin="IMMEDIATE")
                async with self._scope(conn) as tx:
                    yield tx
        else:
            async with self.engine.connect() as conn, self._scope(conn) as tx:
                yield tx

    async def sqlite_write(self, fn: Callable[[Any], T]) -> T:
        """SQLite only: ``fn(cursor)`` as one write transaction on the connection's thread, in one hop.

        For hot paths whose statements are known up front (the worker's claim); see
        :func:`hubwire.store.statements.sqlite_write`. Serialised with :meth:`transaction`.
        """
        async with self._write_lock:
            return await sqlite_write(self.engine, fn)

    @asynccontextmanager
    async def _scope(self, conn: AsyncConnection) -> AsyncIterator[Tx]:
        await conn.begin()
        tx = Tx(self, conn)
        try:
            yield tx
            for before in tx._before_commit:
                await before()
            if tx.jobs_enqueued and self.dialect == "postgresql":
                await conn.execute(sa.text(f"NOTIFY {JOB_CHANNEL}"))
        except BaseException:
            await conn.rollback()
            raise
        await conn.commit()
        if tx.jobs_enqueued:
            self.job_signal.set()
        for fn in tx._after_commit:
            res = fn()
            if res is not None:
                await res

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.connect() as conn:
            yield conn

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[AsyncConnection]:
        """PostgreSQL: a connection in autocommit, for statements each atomic and durable on its own.

        One round trip each instead of BEGIN, statement, COMMIT (the worker's claim, completion and
        attempt record). Such a statement must enqueue nothing: no NOTIFY is sent for it.
        """
        async with self.engine.connect() as conn:
            yield await conn.execution_options(isolation_level="AUTOCOMMIT")

    async def ensure_noun(self, noun: Noun) -> None:
        if noun.name in self._indexed:
            return
        if not self._started:
            await self.start()
        from hubwire.store.indexes import ensure_indexes

        if any(f.indexed for f in noun.fields.values()):
            async with self.transaction() as tx:
                await ensure_indexes(tx.conn, noun)
        self._indexed.add(noun.name)


def configure(settings: Settings | None = None, **overrides: Any) -> None:
    """Set the settings used by default Hubs (those not created explicitly)."""
    global _default_settings
    base = settings or Settings()
    _default_settings = base.replace(**overrides) if overrides else base
    _defaults.clear()


async def current_hub() -> Hub:
    hub = _current.get()
    if hub is None:
        loop = asyncio.get_running_loop()
        hub = _defaults.get(loop)
        if hub is None:
            hub = Hub(_default_settings or Settings())
            _defaults[loop] = hub
    if not hub._started:
        await hub.start()
    return hub
