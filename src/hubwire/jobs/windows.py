"""Flush jobs by age and size: the job that takes what a window of time gathered, and one when a
batch is full.

A producer that batches (analytics forwarding per destination, the lakehouse feed) writes its items
in the transactions that bring them and calls :meth:`Windows.enqueue_into` there (the
transaction's :class:`~hubwire.store.statements.Writes`). The first transaction
of an ``interval``-second window enqueues the window's job, due when the window ends (keyed by the
window, so one job per window whatever the number of processes); the following ones in this process
enqueue nothing (the job, still queued, will take their items too). A transaction that brings the
items of this window past a multiple of ``batch`` enqueues a job due at once (one live job per
name: while it is queued or running, its key makes further ones no-ops; it takes all that is
pending).

Only jobs this process saw commit are remembered, and only until their window ends; should a job
run early (a worker whose clock is ahead), what it missed goes with the next window's job or the
producer's upkeep: never lost. The counts are this process's only: a guide to flush early, never
needed for correctness.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from hubwire.jobs import queue

if TYPE_CHECKING:
    from hubwire.hub import Hub
    from hubwire.store.statements import Writes

__all__ = ["Windows"]

_REMEMBERED = 1000  # window jobs remembered at most (the ended ones are forgotten first)


class Windows:
    """The window jobs this process committed, and the items of each name's current window (a hub service)."""

    def __init__(self) -> None:
        self._until: dict[str, float] = {}  # window job key -> the end of its window
        self._items: dict[str, tuple[int, int]] = {}  # name -> (window, items committed in it)

    def enqueue_into(
        self,
        writes: Writes,
        hub: Hub,
        kind: str,
        payload: dict[str, Any],
        *,
        name: str,
        items: int,
        interval: float,
        batch: int,
        max_attempts: int | None = None,
    ) -> None:
        """``items`` more for ``name`` in ``writes``: the window's job (once), one due at once past each ``batch``."""
        now = hub.clock()
        window = int(now // interval)
        end = (window + 1) * interval
        key = f"{kind}:{name}:{window}"
        if key not in self._until:
            queue.enqueue_into(writes, hub, kind, payload, run_at=end, key=key, max_attempts=max_attempts)
            writes.after_commit.append(functools.partial(self._opened, key, end, now))
        seen, before = self._items.get(name, (window, 0))
        if seen != window:
            before = 0
        if (before + items) // batch > before // batch:
            queue.enqueue_into(writes, hub, kind, payload, key=f"{kind}:{name}:full", max_attempts=max_attempts)
        writes.after_commit.append(functools.partial(self._add, name, window, items))

    def _opened(self, key: str, until: float, now: float) -> None:
        if len(self._until) >= _REMEMBERED:  # forget the windows that ended (all of them, should none have)
            kept = {k: t for k, t in self._until.items() if t > now}
            self._until = kept if len(kept) < _REMEMBERED else {}
        self._until[key] = until

    def _add(self, name: str, window: int, items: int) -> None:
        seen, before = self._items.get(name, (window, 0))
        if seen > window:  # a transaction of an earlier window that committed late
            return
        self._items[name] = (window, (before if seen == window else 0) + items)
