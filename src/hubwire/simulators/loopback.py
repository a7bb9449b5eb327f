"""The machinery every CRM simulator shares: a loopback aiohttp server, the request record, faults.

Owns the lifecycle (``start``/``stop``, ``async with``, ``serving_in_thread`` for synchronous
clients), the record of every request (``requests``, ``request_times``, ``mismatches``), fault
injection (``fail_next``: 5xx bursts, 429 with ``Retry-After``, slow answers) and a sliding
one-second request window for rate limits. A provider's simulator subclasses
:class:`LoopbackSimulator` and answers in its own wire format (``_respond``, ``_fault_response``).
Listens on 127.0.0.1 unless told otherwise and never contacts anything.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qsl

from aiohttp import web

__all__ = ["MALFORMED", "Fault", "LoopbackSimulator", "RecordedRequest", "json_response"]

# What a handler raises when a client sent a body or parameter of the wrong shape (a list where an
# object belongs, a word where a number belongs): each simulator records it as a mismatch and answers
# 400, so a malformed request is never a 500.
MALFORMED = (AttributeError, IndexError, KeyError, TypeError, ValueError)


@dataclass(frozen=True)
class RecordedRequest:
    """One request as a simulator received it (``query`` keeps repeated names in order)."""

    method: str
    path: str
    raw_query: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes
    time: float

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    def param(self, name: str) -> str | None:
        return next((v for k, v in self.query if k == name), None)


@dataclass
class Fault:
    """An injected failure for one upcoming request: wait ``delay`` s, then answer ``status`` (None: normally)."""

    status: int | None = 500
    retry_after: float | None = None
    delay: float | None = None


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
    if status == 204:
        return web.Response(status=204, headers=headers)
    return web.Response(status=status, text=json.dumps(body), content_type="application/json", headers=headers)


class LoopbackSimulator:
    """A provider API on ``http://127.0.0.1:PORT``; subclasses answer requests in the provider's format."""

    name = "provider"

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        rate_limit: int | None = None,
        now: Callable[[], float],
        ssl: ssl.SSLContext | None = None,
    ) -> None:
        self.host, self.port, self.ssl = host, port, ssl
        self.rate_limit = rate_limit
        self.now = now
        self.requests: list[RecordedRequest] = []
        self.request_times: list[float] = []
        self.mismatches: list[str] = []
        self._faults: collections.deque[Fault] = collections.deque()
        self._window: collections.deque[float] = collections.deque()
        self._runner: web.AppRunner | None = None
        self._closing = asyncio.Event()

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"{'https' if self.ssl else 'http'}://{self.host}:{self.port}"

    async def start(self) -> Self:
        app = web.Application(client_max_size=8 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._closing = asyncio.Event()
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port, ssl_context=self.ssl).start()
        if self.port == 0:
            self.port = int(self._runner.addresses[0][1])
        return self

    async def stop(self) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    @contextlib.contextmanager
    def serving_in_thread(self) -> Iterator[Self]:
        """Serve from a background thread with its own event loop, for synchronous clients (the official SDKs).

        Seed and inspect from the calling thread between requests, not while a client is mid-request.
        """
        loop = asyncio.new_event_loop()
        started = threading.Event()
        failure: list[BaseException] = []

        def serve() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start())
            except BaseException as exc:  # reported to the caller below
                failure.append(exc)
                started.set()
                return
            started.set()
            loop.run_forever()

        thread = threading.Thread(target=serve, name=f"{self.name}-simulator", daemon=True)
        thread.start()
        started.wait(60)
        if failure or not started.is_set():
            loop.close()
            raise RuntimeError(f"the {self.name} simulator did not start") from (failure[0] if failure else None)
        try:
            yield self
        finally:
            asyncio.run_coroutine_threadsafe(self.stop(), loop).result(30)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(30)
            loop.close()

    # -- test controls --------------------------------------------------------------------------

    def fail_next(
        self, n: int = 1, status: int | None = 500, retry_after: float | None = None, delay: float | None = None
    ) -> None:
        """The next ``n`` requests fail: optional ``delay`` seconds first, then ``status`` (None: answer normally)."""
        self._faults.extend(Fault(status, retry_after, delay) for _ in range(n))

    def requests_to(self, method: str, path_prefix: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == method.upper() and r.path.startswith(path_prefix)]

    def max_requests_per_second(self, window: float = 1.0) -> int:
        """The most requests received within any ``window`` seconds."""
        times, best, j = self.request_times, 0, 0
        for i, t in enumerate(times):
            while t - times[j] >= window:
                j += 1
            best = max(best, i - j + 1)
        return best

    # -- HTTP -----------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        now = time.monotonic()
        recorded = RecordedRequest(
            request.method,
            request.path,
            request.query_string,
            parse_qsl(request.query_string, keep_blank_values=True),
            dict(request.headers),
            await request.read(),
            now,
        )
        self.requests.append(recorded)
        self.request_times.append(now)
        self._inspect(recorded)  # even a request about to get an injected fault is checked
        if self._faults:
            fault = self._faults.popleft()
            if fault.delay:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), fault.delay)
            if fault.status is not None:
                return self._fault_response(fault)
        return await self._respond(recorded)

    def _window_wait(self, now: float) -> float | None:
        """Seconds until the per-second limit has room again, or None (and the request counted) if it has room."""
        if self.rate_limit is None:
            return None
        while self._window and now - self._window[0] >= 1.0:
            self._window.popleft()
        if len(self._window) >= self.rate_limit:
            return 1.0 - (now - self._window[0])
        self._window.append(now)
        return None

    def _window_remaining(self) -> int:
        return max(0, (self.rate_limit or 0) - len(self._window))

    def _inspect(self, request: RecordedRequest) -> None:
        """Check a request against the provider's description and record what breaks it in ``mismatches``."""

    async def _respond(self, request: RecordedRequest) -> web.StreamResponse:
        raise NotImplementedError

    def _fault_response(self, fault: Fault) -> web.StreamResponse:
        raise NotImplementedError
