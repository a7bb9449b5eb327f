"""The machinery every CRM simulator shares: a loopback aiohttp server, the request record, faults.

Owns the lifecycle (``start``/``stop``, ``async with``, ``serving_in_thread`` for synchronous
clients), the record of every request (``requests``, ``request_times``, ``mismatches``; the last
``keep_requests`` of each, and of what a simulator keeps of them, when set: :func:`drop_oldest`), fault
injection (``fail_next``: 5xx bursts, 429 with ``Retry-After``, slow answers) and a sliding
one-second request window for rate limits. A provider's simulator subclasses
:class:`LoopbackSimulator` and answers in its own wire format (``_respond``, ``_fault_response``).
Listens on 127.0.0.1 unless told otherwise and never contacts anything.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import json
import ssl
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar
from urllib.parse import parse_qsl

from aiohttp import web

__all__ = [
    "MALFORMED",
    "Fault",
    "LoopbackSimulator",
    "RecordedRequest",
    "drop_oldest",
    "json_response",
    "most_within",
    "serving_in_thread",
]

# What a handler raises when a client sent a body or parameter of the wrong shape (a list where an
# object belongs, a word where a number belongs): each simulator records it as a mismatch and answers
# 400, so a malformed request is never a 500.
MALFORMED = (AttributeError, IndexError, KeyError, TypeError, ValueError)


@dataclass
class RecordedRequest:
    """One request as a simulator received it (``query`` keeps repeated names in order) and the status
    it was answered with (0 until answered)."""

    method: str
    path: str
    raw_query: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes
    time: float
    status: int = 0

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    def param(self, name: str) -> str | None:
        return next((v for k, v in self.query if k == name), None)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# Where the middleware leaves a request's record for the handler.
_RECORDED = web.RequestKey("recorded", RecordedRequest)


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


class _Server(Protocol):
    async def start(self) -> Any: ...

    async def stop(self) -> None: ...


_S = TypeVar("_S", bound=_Server)


@contextlib.contextmanager
def serving_in_thread(sim: _S, name: str) -> Iterator[_S]:
    """Serve ``sim`` from a background thread with its own event loop, for synchronous clients; ``name``
    says which simulator in the thread's name and in the error when it does not start."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    failure: list[BaseException] = []

    def serve() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(sim.start())
        except BaseException as exc:  # reported to the caller below
            failure.append(exc)
            started.set()
            return
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, name=f"{name}-simulator", daemon=True)
    thread.start()
    started.wait(60)
    if failure or not started.is_set():
        loop.close()
        raise RuntimeError(f"the {name} simulator did not start") from (failure[0] if failure else None)
    try:
        yield sim
    finally:
        asyncio.run_coroutine_threadsafe(sim.stop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
        loop.close()


def drop_oldest(items: list[Any] | dict[Any, Any], keep: int | None) -> None:
    """Keep the last ``keep`` of ``items`` (a dict: the last inserted), dropping the oldest; None keeps all.

    Tests keep everything and slice it; a long-running ``hubwire simulate`` keeps the last N, so that
    its memory stays bounded however long it runs.
    """
    if keep is None or len(items) <= keep:
        return
    if isinstance(items, list):
        del items[: len(items) - keep]
        return
    for key in list(itertools.islice(items, len(items) - keep)):
        del items[key]


def most_within(times: list[float], window: float) -> int:
    """The most of ``times`` (ascending) that fall within any ``window`` seconds."""
    best, j = 0, 0
    for i, t in enumerate(times):
        while t - times[j] >= window:
            j += 1
        best = max(best, i - j + 1)
    return best


class LoopbackSimulator:
    """A provider API on ``http://127.0.0.1:PORT``; subclasses answer requests in the provider's format."""

    name = "provider"
    # A body declared longer than this is recorded empty and left unread, for the provider to answer
    # 413 in its own format; None reads every body (up to aiohttp's limit of 8 MiB).
    max_body: int | None = None

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        rate_limit: int | None = None,
        now: Callable[[], float] = time.time,
        ssl: ssl.SSLContext | None = None,
        keep_requests: int | None = None,
    ) -> None:
        self.host, self.port, self.ssl = host, port, ssl
        self.rate_limit = rate_limit
        self.now = now
        self.requests: list[RecordedRequest] = []
        self.request_times: list[float] = []
        # None keeps every request (tests slice it); a long-running ``hubwire simulate`` keeps the last N.
        self.keep_requests = keep_requests
        self.mismatches: list[str] = []
        self._faults: collections.deque[Fault] = collections.deque()
        self._windows: dict[str, collections.deque[float]] = {}
        self._runner: web.AppRunner | None = None
        self._closing = asyncio.Event()

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"{'https' if self.ssl else 'http'}://{self.host}:{self.port}"

    async def start(self) -> Self:
        limit = 8 * 1024 * 1024 if self.max_body is None else self.max_body + 1024
        app = web.Application(middlewares=[self._middleware], client_max_size=limit)
        self._add_routes(app.router)
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

    def serving_in_thread(self) -> contextlib.AbstractContextManager[Self]:
        """Serve from a background thread with its own event loop, for synchronous clients (the official SDKs).

        Seed and inspect from the calling thread between requests, not while a client is mid-request.
        """
        return serving_in_thread(self, self.name)

    # -- test controls --------------------------------------------------------------------------

    def fail_next(
        self, n: int = 1, status: int | None = 500, retry_after: float | None = None, delay: float | None = None
    ) -> None:
        """The next ``n`` requests fail: optional ``delay`` seconds first, then ``status`` (None: answer normally)."""
        self._faults.extend(Fault(status, retry_after, delay) for _ in range(n))

    def slow_next(self, n: int = 1, *, delay: float) -> None:
        """Answer the next ``n`` requests normally, but only after ``delay`` seconds."""
        self.fail_next(n, status=None, delay=delay)

    def requests_to(self, method_or_path: str, path_prefix: str | None = None) -> list[RecordedRequest]:
        """The requests whose path starts with a prefix: ``requests_to("GET", "/v1/")`` those of one method,
        ``requests_to("/api/auth.test")`` those of any method."""
        if path_prefix is None:
            return [r for r in self.requests if r.path.startswith(method_or_path)]
        return [r for r in self.requests if r.method == method_or_path.upper() and r.path.startswith(path_prefix)]

    def max_requests_per_second(self, window: float = 1.0) -> int:
        """The most requests received within any ``window`` seconds."""
        return most_within(self.request_times, window)

    # -- HTTP -----------------------------------------------------------------------------------

    def _add_routes(self, router: web.UrlDispatcher) -> None:
        """The provider's routes; by default every request goes to :meth:`_respond`."""
        router.add_route("*", "/{tail:.*}", self._respond_to)

    async def _respond_to(self, request: web.Request) -> web.StreamResponse:
        return await self._respond(request[_RECORDED])

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        now = time.monotonic()
        declared = request.content_length or 0
        unread = self.max_body is not None and declared > self.max_body
        try:
            body = b"" if unread else await request.read()
        except web.RequestPayloadError:  # a body its Content-Encoding cannot undo (not gzip after all)
            return web.Response(status=400, text="malformed body: its Content-Encoding cannot be decoded")
        recorded = RecordedRequest(
            request.method,
            request.path,
            request.query_string,
            parse_qsl(request.query_string, keep_blank_values=True),
            dict(request.headers),
            body,
            now,
        )
        request[_RECORDED] = recorded
        self.requests.append(recorded)
        self.request_times.append(now)
        response = await self._answer(request, handler, recorded)
        recorded.status = response.status
        # After the answer: the simulator may have kept more of the request (events, mails, a mismatch).
        for items in (self.requests, self.request_times, self.mismatches, *self._kept()):
            drop_oldest(items, self.keep_requests)
        return response

    def _kept(self) -> tuple[list[Any] | dict[Any, Any], ...]:
        """What the simulator keeps of the requests it received (events, mails), bounded like the record."""
        return ()

    async def _answer(
        self,
        request: web.Request,
        handler: Handler,
        recorded: RecordedRequest,
    ) -> web.StreamResponse:
        self._inspect(recorded)  # even a request about to get an injected fault is checked
        refusal = self._refuse(request)
        if refusal is not None:
            return refusal
        if self._faults:
            fault = self._faults.popleft()
            if fault.delay:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), fault.delay)
            if fault.status is not None:
                return self._fault_response(fault, recorded)
        try:
            return await self._dispatch(request, handler, recorded)
        except web.HTTPNotFound:
            return self._not_found(recorded)

    def _limit_wait(self, key: str, limit: int, window: float, now: float) -> float | None:
        """Seconds until ``key`` has room for another request within ``limit`` per ``window`` seconds, or
        None (and the request counted) if it has room now."""
        calls = self._windows.setdefault(key, collections.deque())
        while calls and now - calls[0] >= window:
            calls.popleft()
        if len(calls) >= limit:
            return window - (now - calls[0])
        calls.append(now)
        return None

    def _window_wait(self, now: float) -> float | None:
        """Seconds until the per-second limit has room again, or None (and the request counted) if it has room."""
        if self.rate_limit is None:
            return None
        return self._limit_wait("", self.rate_limit, 1.0, now)

    def _window_remaining(self) -> int:
        return max(0, (self.rate_limit or 0) - len(self._windows.get("", ())))

    # -- what a provider's simulator fills in -----------------------------------------------------

    def _inspect(self, request: RecordedRequest) -> None:
        """Check a request against the provider's description and record what breaks it in ``mismatches``."""

    def _refuse(self, request: web.Request) -> web.StreamResponse | None:
        """An answer that comes before any injected fault (a provider that checks credentials first), or None."""
        return None

    async def _dispatch(
        self,
        request: web.Request,
        handler: Handler,
        recorded: RecordedRequest,
    ) -> web.StreamResponse:
        """Answer a request no fault took: by default its route's handler."""
        return await handler(request)

    def _not_found(self, request: RecordedRequest) -> web.StreamResponse:
        """The answer to a path no route matches."""
        return web.Response(status=404, text="404: Not Found")

    async def _respond(self, request: RecordedRequest) -> web.StreamResponse:
        raise NotImplementedError

    def _fault_response(self, fault: Fault, request: RecordedRequest) -> web.StreamResponse:
        raise NotImplementedError
