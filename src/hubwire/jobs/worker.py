"""The worker loop: claim batches, run handlers concurrently, keep leases alive, finish in batches.

Finished jobs are completed by the next claim (one statement on PostgreSQL, one transaction on
SQLite), so a busy worker pays one round trip per batch; what is left is flushed on stop.

The worker claims ahead: up to ``prefetch`` jobs (default half the concurrency) wait, leased, for
a free slot, and a finishing job starts the next one at once. Without it every slot that frees
waits for a claim, which under load waits for turns of a busy event loop (12-14 ms seen): the
requests in flight drop to a third of the concurrency and go out in bursts, and each costs more
CPU (bench/README.md). Jobs waiting are kept leased like running ones, and are given back
(``queue.release``, not counted as an attempt) when the worker stops.

A worker is stateless: everything it holds is a lease in the database. ``kill -9`` loses at most
the attempts in flight, which another worker takes over once their leases expire, as it does the
jobs that were claimed ahead (those count the claim as an attempt: only a clean stop gives it back).
On PostgreSQL a LISTEN connection wakes the loop when jobs are enqueued; on SQLite an in-process
signal does (and a poll interval covers other processes).

Every ``tick_interval`` seconds the worker runs the hub's periodic work (``hub.periodic``: the sync
schedules, which enqueue the syncs that are due). Every worker does, so that any one of them
running is enough; what is due is claimed by exactly one (see :mod:`hubwire.sync.schedules`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import structlog

from hubwire.jobs import queue
from hubwire.jobs.kinds import Dead, Job, Retry, get_kind
from hubwire.net.redact import redact_text
from hubwire.store.engine import sync_url

if TYPE_CHECKING:
    from hubwire.hub import Hub

__all__ = ["Worker"]

log = structlog.get_logger("hubwire.worker")


class Worker:
    def __init__(
        self,
        hub: Hub,
        *,
        concurrency: int = 32,
        batch_size: int | None = None,
        lease: float = 30.0,
        poll_interval: float = 1.0,
        kinds: Sequence[str] | None = None,
        name: str | None = None,
        retention: float | None = 7 * 86400.0,
        prefetch: int | None = None,
        tick_interval: float = 5.0,
    ) -> None:
        self.hub = hub
        self.tick_interval = tick_interval
        # Done jobs older than this are deleted now and then (None keeps them); dead ones stay.
        self.retention = retention
        self._next_prune = 0.0
        self.concurrency = max(1, concurrency)
        self.batch_size = batch_size or self.concurrency
        # Jobs claimed ahead of a free slot, at most.
        self.prefetch = self.concurrency // 2 if prefetch is None else max(0, prefetch)
        self.lease = lease
        self.poll_interval = poll_interval
        self.kinds = list(kinds) if kinds else None
        # The name fences completions, so it must be unique per live worker; it fits jobs.worker (64).
        suffix = f":{os.getpid()}:{id(self) & 0xFFFFFF:x}"
        self.name = (name or socket.gethostname()[: 64 - len(suffix)] + suffix)[:64]
        self.processed = 0
        self._inflight: dict[int, tuple[Job, asyncio.Task[None]]] = {}
        self._ready: deque[Job] = deque()  # claimed, waiting for a slot
        self._closing = False
        self._done: list[tuple[int, int]] = []
        # The values finished handlers returned for their kind's ``finish`` writer, kind -> values;
        # written with the completion of self._done, so the two lists travel together.
        self._results: dict[str, list[Any]] = {}
        self._done_signal = asyncio.Event()
        self._slot_free = asyncio.Event()
        self._stopping = asyncio.Event()

    # public ----------------------------------------------------------------------
    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Run until ``stop`` is set (or the task is cancelled); finish in-flight jobs first."""
        stop = stop or self._stopping
        listener = asyncio.create_task(self._listen(), name="hubwire-listen")
        keeper = asyncio.create_task(self._keep_leases(), name="hubwire-leases")
        ticker = asyncio.create_task(self._tick(), name="hubwire-periodic")
        log.info("worker.started", worker=self.name, concurrency=self.concurrency)
        try:
            while not stop.is_set():
                # Clear before claiming: a wake-up that arrives during the claim is kept, not lost.
                queue.job_signal(self.hub).clear()
                self._done_signal.clear()
                try:
                    claimed = await self._fill()
                except Exception as exc:  # the database is away: keep the worker alive and try again
                    log.error("worker.claim_failed", worker=self.name, error=str(exc))
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), self.poll_interval)
                    continue
                if claimed == 0:
                    await self._wait(stop, idle=self._room() > 0)
        finally:
            self._closing = True  # no new start: what waits goes back, what runs finishes
            for t in (listener, keeper, ticker):
                t.cancel()
            await asyncio.gather(listener, keeper, ticker, return_exceptions=True)
            await self._release_ready()
            await self._wait_inflight()
            await self._flush()
            log.info("worker.stopped", worker=self.name, processed=self.processed)

    def stop(self) -> None:
        self._stopping.set()

    async def drain(self, *, timeout: float = 30.0) -> int:
        """Run until no job is ready now; for tests and scripts. Returns the jobs processed."""
        start = self.processed
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            await queue.reap(self.hub)
            claimed = await self._fill()
            if claimed == 0 and not self._inflight and not self._ready:
                await self._flush()
                return self.processed - start
            if claimed == 0:
                self._slot_free.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._slot_free.wait(), 0.05)
            await self._flush()
        raise TimeoutError(f"jobs still pending after {timeout}s")

    # internals ---------------------------------------------------------------------
    def _room(self) -> int:
        """How many more jobs this worker may hold: running, plus waiting for a slot."""
        return self.concurrency + self.prefetch - len(self._inflight) - len(self._ready)

    def _start_ready(self) -> None:
        while self._ready and len(self._inflight) < self.concurrency and not self._closing:
            job = self._ready.popleft()
            task = asyncio.create_task(self._run_one(job), name=f"job-{job.id}")
            self._inflight[job.id] = (job, task)

    async def _release_ready(self) -> None:
        ready, self._ready = list(self._ready), deque()
        try:
            await queue.release(self.hub, self.name, [(j.id, j.attempts) for j in ready])
        except Exception as exc:  # their leases expire and another worker takes them
            log.error("worker.release_failed", count=len(ready), error=str(exc))

    async def _fill(self) -> int:
        room = self._room()
        if room <= 0:
            return 0
        # Finished jobs ride along with the claim: one round trip where a busy worker would need two.
        done, results = self._take_done()
        try:
            batch = await queue.claim(
                self.hub,
                self.name,
                min(room, self.batch_size),
                self.lease,
                self.kinds,
                done=done,
                finish=self._writers(results),
            )
        except BaseException:
            self._put_back(done, results)  # not committed: the next claim (or the last flush) tries again
            raise
        self._ready.extend(batch)
        self._start_ready()
        return len(batch)

    async def _wait(self, stop: asyncio.Event, *, idle: bool) -> None:
        """Sleep until there may be work, or the poll interval.

        Idle (room for more, nothing ready): a new job, or a finished one to complete. Busy (no
        room): a slot freeing up. Either way the next claim also completes the finished jobs.
        """
        events = [stop]
        if idle:
            events += [queue.job_signal(self.hub), self._done_signal]
        else:
            # Full: no await since _fill saw no room, so clearing here loses no completion.
            self._slot_free.clear()
            events.append(self._slot_free)
        if any(e.is_set() for e in events):
            return
        waiters = [asyncio.ensure_future(e.wait()) for e in events]
        try:
            await asyncio.wait(waiters, timeout=self.poll_interval, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                w.cancel()

    def _take_done(self) -> tuple[list[tuple[int, int]], dict[str, list[Any]]]:
        done, self._done = self._done, []
        results, self._results = self._results, {}
        return done, results

    def _put_back(self, done: list[tuple[int, int]], results: dict[str, list[Any]]) -> None:
        self._done[:0] = done
        for kind, values in results.items():
            self._results.setdefault(kind, [])[:0] = values

    @staticmethod
    def _writers(results: dict[str, list[Any]]) -> list[tuple[Any, list[Any]]]:
        return [(get_kind(kind).finish, values) for kind, values in results.items()]

    async def _run_one(self, job: Job) -> None:
        try:
            kind = get_kind(job.kind)
            if kind.timeout is None:
                result = await kind.handler(job, self.hub)
            else:
                async with asyncio.timeout(kind.timeout):
                    result = await kind.handler(job, self.hub)
        except asyncio.CancelledError:
            raise
        except Retry as r:
            await self._record_failure(job, r.reason or str(r), r.delay)
        except Dead as d:
            await self._record_failure(job, str(d) or "dead-lettered by its handler", None)
        except Exception as exc:  # any handler failure is a failed attempt, never a crashed worker
            kind_retry = None
            with contextlib.suppress(Exception):
                kind_retry = get_kind(job.kind).backoff.delay(job.attempts)
            await self._record_failure(job, f"{type(exc).__name__}: {exc}", kind_retry)
        else:
            self._done.append((job.id, job.attempts))
            if result is not None and kind.finish is not None:
                self._results.setdefault(job.kind, []).append(result)
            self._done_signal.set()
        finally:
            self._inflight.pop(job.id, None)
            self.processed += 1
            self._start_ready()  # the slot goes to a job claimed ahead, without waiting for a claim
            self._slot_free.set()

    async def _record_failure(self, job: Job, error: str, retry_in: float | None) -> None:
        error = redact_text(error)
        try:
            outcome = await queue.fail(self.hub, self.name, job, error, retry_in)
        except Exception as exc:  # the lease will expire and the job be retried
            log.error("worker.record_failure_failed", job_id=job.id, error=str(exc))
            return
        if outcome == "lost":
            log.warning("job.lease_lost", job_id=job.id, kind=job.kind, attempt=job.attempts, error=error)
            return
        log.warning("job.failed", job_id=job.id, kind=job.kind, attempt=job.attempts, outcome=outcome, error=error)

    async def _flush(self) -> None:
        if not self._done:
            return
        done, results = self._take_done()
        try:
            await queue.complete(self.hub, self.name, done, finish=self._writers(results))
        except Exception as exc:
            # Not marked done: the leases expire and the jobs run again (at least once).
            log.error("worker.complete_failed", count=len(done), error=str(exc))

    async def _keep_leases(self) -> None:
        while True:
            await asyncio.sleep(max(0.05, self.lease / 3))
            try:
                held = [*self._inflight, *(j.id for j in self._ready)]
                await queue.extend(self.hub, self.name, held, self.lease)
                await queue.reap(self.hub)
                await self._prune()
            except Exception as exc:
                log.error("worker.lease_keeping_failed", error=str(exc))

    async def _prune(self) -> None:
        now = time.monotonic()
        if now < self._next_prune:
            return
        self._next_prune = now + 600.0  # every ten minutes is plenty: it only bounds table growth
        if self.retention is not None:
            pruned = await queue.prune(self.hub, older_than=self.retention)
            if pruned:
                log.info("worker.pruned", jobs=pruned)
        for upkeep in self.hub.maintenance:
            task = getattr(upkeep, "__qualname__", repr(upkeep))
            try:
                rows = await upkeep(self.hub)
            except Exception as exc:  # one failing upkeep does not stop the others, nor the worker
                log.error("worker.maintenance_failed", task=task, error=str(exc))
                continue
            if rows:
                log.info("worker.maintenance", task=task, rows=rows)

    async def _tick(self) -> None:
        while True:
            for work in self.hub.periodic:
                try:
                    started = await work(self.hub)
                except Exception as exc:  # the database is away, or one task is broken: next tick
                    log.error("worker.periodic_failed", task=getattr(work, "__qualname__", repr(work)), error=str(exc))
                    continue
                if started:
                    log.info("worker.periodic", task=getattr(work, "__qualname__", repr(work)), started=started)
            await asyncio.sleep(self.tick_interval)

    async def _wait_inflight(self) -> None:
        tasks = [t for _, t in self._inflight.values()]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _listen(self) -> None:
        if self.hub.dialect != "postgresql":
            return
        import psycopg

        url = sync_url(self.hub.settings.database_url).replace("postgresql+psycopg://", "postgresql://")
        while True:
            try:
                conn: Any = await psycopg.AsyncConnection.connect(url, autocommit=True)
                async with conn:
                    await conn.execute(f"LISTEN {queue.JOB_CHANNEL}")
                    # Jobs enqueued before LISTEN took hold notified no one: look once more.
                    queue.job_signal(self.hub).set()
                    async for _ in conn.notifies():
                        queue.job_signal(self.hub).set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("worker.listen_failed", error=str(exc))
                await asyncio.sleep(1.0)
