"""The Hub: one configured Hubwire (database, vault, providers, clock) and the wiring of its services.

Nouns are declared once, globally; the Hub they act on is the *current* one: set with
``hub.activate()`` (or ``async with Hub(...)``), else a default Hub built from the
environment, one per event loop. A Hub holds configuration and wiring only: its transactions
are :mod:`hubwire.store.transaction`'s (``hub.transaction()`` opens one on this hub), and each
subsystem keeps its per-hub state in one typed slot, :meth:`Hub.service` (created on first use,
closed with the hub).
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import time
import weakref
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, TypeVar, cast

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hubwire.connectors.registry import ProviderRegistry, default_registry
from hubwire.extensions import install_extensions
from hubwire.settings import Settings
from hubwire.store import transaction as transactions
from hubwire.store.engine import make_engine, migrate
from hubwire.store.transaction import Tx
from hubwire.vault import Vault, load_or_create_key

T = TypeVar("T")
S = TypeVar("S")

if TYPE_CHECKING:
    from hubwire.store.events import EventRecord

__all__ = ["Hub", "configure", "current_hub"]

EventSink = Callable[[Tx, "EventRecord"], Awaitable[None]]

_current: contextvars.ContextVar[Hub | None] = contextvars.ContextVar("hubwire_hub", default=None)
_defaults: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Hub] = weakref.WeakKeyDictionary()
_default_settings: Settings | None = None


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
        self.providers: ProviderRegistry = providers or default_registry
        self.event_sinks: list[EventSink] = []
        # Upkeep every worker runs now and then (ten-minute period): each prunes what it owns and
        # returns how many rows it deleted. Extensions add theirs (webhooks: old delivery history).
        self.maintenance: list[Callable[[Hub], Awaitable[int]]] = []
        # Work every worker does every few seconds (``Worker(tick_interval=...)``): each starts what is
        # due (sync schedules) and returns how many it started.
        self.periodic: list[Callable[[Hub], Awaitable[int]]] = []
        self._engine: AsyncEngine | None = None
        self._vault: Vault | None = None
        self._started = False
        self._start_lock = asyncio.Lock()
        self._services: dict[type, Any] = {}
        self._closers: list[Callable[[], Awaitable[None]]] = []
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

    @property
    def started(self) -> bool:
        return self._started

    async def start(self) -> Hub:
        async with self._start_lock:
            if not self._started:
                if self.settings.auto_migrate:
                    await migrate(self.settings.database_url)
                self._started = True
        return self

    def service(self, kind: type[S], factory: Callable[[], S] | None = None) -> S:
        """This hub's one ``kind`` (an HTTP client, a deliverer, a cache), made by ``factory()``
        (default ``kind()``) on first use. The hub closes it with itself (its ``close()``, if any)."""
        try:
            return cast(S, self._services[kind])
        except KeyError:
            pass
        made = (factory or kind)()
        self._services[kind] = made
        return made

    def provide(self, kind: type[S], instance: S) -> S:
        """Give this hub ``instance`` as its ``kind`` (tests inject a client with a fake clock).

        One given earlier is replaced and closed with the hub all the same.
        """
        old = self._services.get(kind)
        if old is not None and old is not instance:
            self.add_closer(lambda: _close(old))
        self._services[kind] = instance
        return instance

    def add_closer(self, fn: Callable[[], Awaitable[None]]) -> None:
        """Register a resource (an HTTP session, a client pool) to release when the hub closes."""
        self._closers.append(fn)

    async def close(self) -> None:
        services, self._services = self._services, {}
        closers, self._closers = self._closers, []
        for svc in reversed(list(services.values())):
            await _close(svc)
        for fn in reversed(closers):
            await fn()
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None
        self._started = False

    async def __aenter__(self) -> Hub:
        await self.start()
        self._token = _current.set(self)
        return self

    async def __aexit__(self, *exc: object) -> None:
        _current.reset(self._token)
        await self.close()

    def activate(self) -> contextvars.Token[Hub | None]:
        return _current.set(self)

    # transactions (store.transaction's, on this hub) ------------------------------------
    def transaction(self) -> AbstractAsyncContextManager[Tx]:
        """A write transaction; callbacks registered with ``after_commit`` run once it committed."""
        return transactions.transaction(self)

    def read(self) -> AbstractAsyncContextManager[AsyncConnection]:
        return transactions.read(self)

    def autocommit(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """PostgreSQL: a connection in autocommit (see :func:`hubwire.store.transaction.autocommit`)."""
        return transactions.autocommit(self)

    async def sqlite_write(self, fn: Callable[[Any], T]) -> T:
        """SQLite only: ``fn(cursor)`` as one write transaction in one hop (see :mod:`hubwire.store.transaction`)."""
        return await transactions.sqlite_write(self, fn)


async def _close(service: object) -> None:
    close = getattr(service, "close", None)
    if callable(close):
        result = close()
        if inspect.isawaitable(result):
            await result


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
