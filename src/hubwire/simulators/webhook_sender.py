"""How a simulator sends the webhooks its provider would: in the background, signed, with retries.

A change made through a simulator's API (or by its test helpers) queues one POST per registered
URL and returns at once: the API answer never waits for a webhook. Each delivery is signed by the
provider's scheme at every attempt (``sign(body)`` gives the headers: a timestamped signature is
fresh on a retry, as the providers do), and retried with exponential backoff on a connection error
or a non-2xx answer, up to ``attempts`` times. Attempts to one URL are made one at a time, in the
order the changes were made (a retry waits its turn behind later deliveries, so it may arrive after
them, as with the real providers). ``sent`` records every delivery for tests;
``idle()`` (or ``wait_idle()`` from another thread) waits until nothing is queued or retrying.
Thread-safe: a simulator served from a background thread may be changed from the test's thread.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp

__all__ = ["SentWebhook", "WebhookSender"]

Sign = Callable[[bytes], dict[str, str]]


@dataclass
class SentWebhook:
    """One webhook as sent: where, what, how many attempts and the last answer (``None``: no answer)."""

    url: str
    body: bytes
    sign: Sign = field(repr=False)
    headers: dict[str, str] = field(default_factory=dict)  # those of the last attempt
    attempts: int = 0
    status: int | None = None
    delivered: bool = False


class WebhookSender:
    """Posts webhooks from a simulator's event loop; ``start`` it inside that loop."""

    def __init__(self, *, attempts: int = 5, backoff: float = 0.1, timeout: float = 10.0) -> None:
        self.attempts, self.backoff, self.timeout = attempts, backoff, timeout
        self.sent: list[SentWebhook] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._lines: dict[str, asyncio.Lock] = {}

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
        if self._session is not None:
            await self._session.close()
            self._session = None
        self._loop = None

    def send(self, url: str, body: bytes, sign: Sign) -> SentWebhook:
        """Queue one delivery (from any thread); dropped when the simulator is not serving."""
        hook = SentWebhook(url, body, sign)
        loop = self._loop
        if loop is None or loop.is_closed():
            return hook
        self.sent.append(hook)
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._spawn(hook)
        else:
            loop.call_soon_threadsafe(self._spawn, hook)
        return hook

    def _spawn(self, hook: SentWebhook) -> None:
        task = asyncio.get_running_loop().create_task(self._deliver(hook))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, hook: SentWebhook) -> None:
        for attempt in range(1, self.attempts + 1):
            if self._session is None:
                return
            async with self._lines.setdefault(hook.url, asyncio.Lock()):  # FIFO: deliveries in order
                hook.attempts = attempt
                hook.headers = hook.sign(hook.body)
                try:
                    async with self._session.post(hook.url, data=hook.body, headers=hook.headers) as resp:
                        await resp.read()
                        hook.status = resp.status
                except (aiohttp.ClientError, TimeoutError, OSError):
                    hook.status = None
            if hook.status is not None and 200 <= hook.status < 300:
                hook.delivered = True
                return
            if attempt < self.attempts:
                await asyncio.sleep(self.backoff * 2 ** (attempt - 1))

    async def idle(self) -> None:
        """Return once every queued delivery has succeeded or given up."""
        await asyncio.sleep(0)  # deliveries queued from another thread land first
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
            await asyncio.sleep(0)

    def wait_idle(self, timeout: float = 60.0) -> None:
        """:meth:`idle` from a thread other than the simulator's (a synchronous test)."""
        if self._loop is not None:
            asyncio.run_coroutine_threadsafe(self.idle(), self._loop).result(timeout)
