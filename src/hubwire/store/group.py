"""Group commit: the calls that arrive while one transaction commits go together in the next one.

SQLite has one writer: a transaction per request would queue every request behind the others.
A :class:`GroupCommit` takes what concurrent callers hand it, writes it in as few transactions as
its size limit allows and answers each caller with its own result once its transaction committed.
Alone, a call waits for nothing but its own commit. Should a transaction fail, every call in it
hears the error and nothing of it was written. The inbox of received webhooks and the collect
endpoint of analytics events use it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["GroupCommit"]

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class _Call(Generic[T, R]):
    item: T
    done: asyncio.Future[R]


class GroupCommit(Generic[T, R]):
    """Writes items in groups: ``write(items)`` commits one transaction and returns a result per item.

    A group holds items while their summed ``weigh`` stays within ``limit`` (and at least one).
    """

    def __init__(
        self,
        write: Callable[[list[T]], Awaitable[Sequence[R]]],
        *,
        limit: int,
        weigh: Callable[[T], int] = lambda _: 1,
        name: str = "hubwire-group-commit",
    ) -> None:
        self._write = write
        self._limit = limit
        self._weigh = weigh
        self._name = name
        self._calls: list[_Call[T, R]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        """Hand ``item`` to the next group; its result once that group committed."""
        call: _Call[T, R] = _Call(item, asyncio.get_running_loop().create_future())
        self._calls.append(call)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name=self._name)
        # A caller that goes away cancels its own future only, not the commit the others wait for.
        return await call.done

    async def close(self) -> None:
        """Wait for what was handed in to be written."""
        if self._flusher is not None:
            await asyncio.gather(self._flusher, return_exceptions=True)

    async def _flush(self) -> None:
        while self._calls:
            n, size = 0, 0
            while n < len(self._calls) and (n == 0 or size + self._weigh(self._calls[n].item) <= self._limit):
                size += self._weigh(self._calls[n].item)
                n += 1
            group, self._calls = self._calls[:n], self._calls[n:]
            try:
                results = await self._write([c.item for c in group])
            except Exception as exc:  # the database refused: every call of the group hears it
                for c in group:
                    if not c.done.done():
                        c.done.set_exception(exc)
                continue
            for c, result in zip(group, results, strict=True):
                if not c.done.done():
                    c.done.set_result(result)
