"""The sync face of Hubwire, for scripts and the REPL: same Nouns, same semantics, no ``await``.

    from hubwire.blocking import Integration, Noun
    stripe = Integration.connect(provider="stripe", api_key="sk_test_...")
    Integration.find({"status": "Active"})
    crm = Integration.use("salesforce")          # direct provider calls, blocking too
    crm.create("Lead", {"LastName": "Lovelace", "Company": "Acme"})

Calls run on one background event loop owned by this module (its own default Hub). Hook
registration (``Integration.connected(fn)``) is passed straight through.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Awaitable
from typing import Any, TypeVar

from hubwire.domains import Event as _Event
from hubwire.domains import Integration as _Integration
from hubwire.domains import Metric as _Metric
from hubwire.nouns.noun import Noun as _AsyncNoun

__all__ = ["Event", "Integration", "Metric", "Noun", "SyncClient", "SyncIntegration", "SyncNoun", "run", "wrap"]

T = TypeVar("T")
_loop: asyncio.AbstractEventLoop | None = None
_lock = threading.Lock()


def _get_loop() -> asyncio.AbstractEventLoop:
    global _loop
    with _lock:
        if _loop is None:
            _loop = asyncio.new_event_loop()
            threading.Thread(target=_loop.run_forever, name="hubwire-sync", daemon=True).start()
        return _loop


def run(coro: Awaitable[T]) -> T:
    """Run a Hubwire coroutine to completion from sync code."""

    async def main() -> T:
        return await coro

    return asyncio.run_coroutine_threadsafe(main(), _get_loop()).result()


class SyncNoun:
    """A Noun whose verbs block until done."""

    def __init__(self, noun: _AsyncNoun) -> None:
        self._noun = noun

    def __repr__(self) -> str:
        return f"SyncNoun({self._noun.name!r})"

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._noun, name)
        if inspect.iscoroutinefunction(attr) or (callable(attr) and getattr(attr, "__name__", "") in self._noun.verbs):

            def call(*args: Any, **kwargs: Any) -> Any:
                result = attr(*args, **kwargs)
                return run(result) if inspect.isawaitable(result) else result

            call.__name__ = name
            return call
        return attr


class SyncClient:
    """A direct provider client (``Integration.use``) whose calls block: ``request``, ``create``,
    ``get``, ``update``, ``list``, with the same arguments, answers and typed errors."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __repr__(self) -> str:
        return f"SyncClient({self._client!r})"

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if not inspect.iscoroutinefunction(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            return run(attr(*args, **kwargs))

        call.__name__ = name
        return call


class SyncIntegration(SyncNoun):
    """The Integration Noun's sync face, with ``use`` giving a :class:`SyncClient`."""

    def use(self, integration: str) -> SyncClient:
        """Direct provider calls through one Integration (its id, or a provider slug), blocking."""
        return SyncClient(run(self._noun.use(integration)))


def wrap(noun: _AsyncNoun) -> SyncNoun:
    return SyncNoun(noun)


def Noun(name: str, schema: dict[str, str], **kwargs: Any) -> SyncNoun:
    """Declare a Noun (as ``hubwire.Noun``) and get its sync face."""
    return SyncNoun(_AsyncNoun(name, schema, **kwargs))


Integration = SyncIntegration(_Integration)
Event = SyncNoun(_Event)
Metric = SyncNoun(_Metric)
