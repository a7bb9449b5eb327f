"""Forwarding: the outbox of events per destination, the batched flush job, and the delivery log.

Durable by construction: an event to forward becomes an ``analytics_outbox`` row (one per
destination) in the transaction that commits it (a Hubwire event, through the event sink
:func:`forward_event`) or accepts it (:func:`record_collected`, for ``POST /v1/collect``), with a
flush job for that destination. A row is deleted only after its destination accepted it, so a
worker killed at any point leaves rows that the next flush sends (at least once; each event
carries a stable id the destinations dedupe on: PostHog ``uuid``, Mixpanel ``$insert_id``,
Segment ``messageId``, Sentry ``event_id``).

Batching, by age and size: the flush job of a destination runs ``flush_interval`` seconds after
the first event of its window (one job per window: a key per destination and window), and sends
what is pending in requests of at most ``batch_size`` events (pipelined: the next batch is read
while one is in flight, and sent while the previous one is logged); a transaction that alone brings
``batch_size`` events schedules a flush at once. A request that fails with a 5xx, 429 (its
Retry-After honoured) or no answer is retried on the job's backoff; one the destination refuses
(another 4xx) marks its events ``dead`` with the reason. Every request batch is a row of the
delivery log (``analytics_batches``: :func:`list_batches`, ``GET /v1/analytics/deliveries``,
``hubwire analytics deliveries``). Every worker's upkeep re-schedules destinations that still
have pending events (a flush that ended as an event arrived), every ten minutes.

The hook for other stores of these events: :func:`on_forward` registers a callable that gets,
inside the same transaction, every collected and every forwarded event (once each, whatever the
number of destinations).
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
import structlog

from hubwire import jsonfast
from hubwire.analytics.destinations import DESTINATIONS, AnalyticsEvent
from hubwire.errors import HubwireError, ProviderError, ProviderRateLimited, ProviderUnavailable
from hubwire.events.registry import matches
from hubwire.extensions import on_hub
from hubwire.jobs import queue
from hubwire.jobs.kinds import Backoff, Job, Retry, job_kind
from hubwire.net.http import http_client
from hubwire.net.redact import redact_text
from hubwire.store.events import iso
from hubwire.store.group import GroupCommit
from hubwire.store.tables import analytics_batches, analytics_outbox, entities
from hubwire.vault.credentials import load_credentials

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from hubwire.hub import Hub
    from hubwire.store.events import EventRecord
    from hubwire.store.transaction import Tx

__all__ = [
    "FLUSH_JOB",
    "PROVIDER",
    "BatchRow",
    "Forwarder",
    "flush",
    "forward_event",
    "list_batches",
    "on_forward",
    "pending_counts",
    "record_collected",
]

log = structlog.get_logger("hubwire.analytics")

PROVIDER = "analytics"
FLUSH_JOB = "analytics.flush"
ACTIVE = ("Connected", "Synced")
DEFAULT_BATCH_SIZE = 100
DEFAULT_FLUSH_INTERVAL = 2.0
MAX_ATTEMPTS = 12
RESPONSE_LIMIT = 300

ForwardHook = Callable[["Tx", Sequence[AnalyticsEvent]], Awaitable[None]]
_hooks: list[ForwardHook] = []


def on_forward(hook: ForwardHook) -> ForwardHook:
    """Register ``hook(tx, events)``: every collected and forwarded event, in its transaction (a lakehouse copy)."""
    if hook not in _hooks:
        _hooks.append(hook)
    return hook


@dataclass(frozen=True)
class Forwarder:
    """An active ``analytics`` Integration as forwarding reads it (no secrets)."""

    id: str
    destinations: tuple[str, ...]
    events: tuple[str, ...]
    collect: bool
    batch_size: int
    flush_interval: float

    def wants(self, event_type: str) -> bool:
        return any(matches(f, event_type) for f in self.events)


def forwarder_of(integration_id: str, data: Mapping[str, Any]) -> Forwarder:
    config = data.get("config") or {}
    return Forwarder(
        id=integration_id,
        destinations=tuple(d for d in config.get("destinations") or () if d in DESTINATIONS),
        events=tuple(config.get("events") or ()),
        collect=bool(config.get("collect", True)),
        batch_size=int(config.get("batch_size") or DEFAULT_BATCH_SIZE),
        flush_interval=float(config.get("flush_interval") or DEFAULT_FLUSH_INTERVAL),
    )


# Built once: read by every transaction that forwards or collects.
_ACTIVE_FORWARDERS = sa.select(entities.c.id, entities.c.data).where(
    entities.c.type == "Integration",
    entities.c.data["provider"].as_string() == PROVIDER,
    entities.c.data["status"].as_string().in_(ACTIVE),
)


async def active_forwarders(conn: AsyncConnection) -> list[Forwarder]:
    return [forwarder_of(r.id, r.data) for r in (await conn.execute(_ACTIVE_FORWARDERS)).all()]


class _Pending:
    """What one transaction forwards: outbox rows and the flushes to schedule, written before commit."""

    def __init__(self, tx: Tx) -> None:
        self.tx = tx
        self.forwarders: list[Forwarder] | None = None
        # An event and the (integration, destination) pairs it goes to: one entry per event, however many.
        self.rows: list[tuple[AnalyticsEvent, list[tuple[str, str]]]] = []
        self.counts: dict[tuple[str, str], int] = {}
        self.intervals: dict[str, tuple[float, int]] = {}
        self.hooked: list[AnalyticsEvent] = []

    async def targets(self) -> list[Forwarder]:
        if self.forwarders is None:
            self.forwarders = await active_forwarders(self.tx.conn)
        return self.forwarders

    def add(self, fw: Forwarder, event: AnalyticsEvent) -> bool:
        added = False
        for dest in fw.destinations:
            if not DESTINATIONS[dest].accepts(event):
                continue
            if not self.rows or self.rows[-1][0] is not event:
                self.rows.append((event, []))
            self.rows[-1][1].append((fw.id, dest))
            self.counts[(fw.id, dest)] = self.counts.get((fw.id, dest), 0) + 1
            self.intervals[fw.id] = (fw.flush_interval, fw.batch_size)
            added = True
        return added

    async def flush(self) -> None:
        self.tx.state.pop(_Pending, None)
        rows, self.rows = self.rows, []
        hooked, self.hooked = self.hooked, []
        if hooked:
            for hook in list(_hooks):
                await hook(self.tx, hooked)
        if not rows:
            return
        # One statement for all the rows: one JSON document with each event once and where it goes.
        doc = jsonfast.dumps([{"id": e.id, "event": e.to_json(), "to": to} for e, to in rows])
        now = self.tx.hub.clock()
        await self.tx.conn.execute(_INSERT_OUTBOX[self.tx.dialect], {"rows": doc, "now": now})
        scheduled = self.tx.hub.service(_Scheduled)
        for (iid, dest), n in self.counts.items():
            interval, size = self.intervals[iid]
            window = int(now // interval)
            payload = {"integration": iid, "destination": dest}
            key = f"{FLUSH_JOB}:{iid}:{dest}:{window}"
            if key not in scheduled:
                await queue.enqueue(
                    self.tx, FLUSH_JOB, payload, run_at=(window + 1) * interval, key=key, max_attempts=MAX_ATTEMPTS
                )
                self.tx.after_commit(functools.partial(scheduled.add, key, (window + 1) * interval, now))
            if n >= size:  # a full batch already: no reason to wait for the window to end
                await queue.enqueue(
                    self.tx,
                    FLUSH_JOB,
                    payload,
                    key=f"{FLUSH_JOB}:{iid}:{dest}:{window}:full",
                    max_attempts=MAX_ATTEMPTS,
                )
        self.counts.clear()


_OUTBOX_COLUMNS = "integration_id, destination, event_id, event, status, attempts, created_at"
_INSERT_OUTBOX = {
    "postgresql": sa.text(
        f"INSERT INTO analytics_outbox ({_OUTBOX_COLUMNS}) "
        "SELECT t.value->>0, t.value->>1, e.value->>'id', e.value->>'event', 'pending', 0, :now "
        "FROM json_array_elements(CAST(:rows AS json)) WITH ORDINALITY AS e(value, i) "
        "CROSS JOIN LATERAL json_array_elements(e.value->'to') WITH ORDINALITY AS t(value, j) ORDER BY e.i, t.j"
    ),
    "sqlite": sa.text(
        f"INSERT INTO analytics_outbox ({_OUTBOX_COLUMNS}) "
        "SELECT json_extract(t.value, '$[0]'), json_extract(t.value, '$[1]'), json_extract(e.value, '$.id'), "
        "json_extract(e.value, '$.event'), 'pending', 0, :now "
        "FROM json_each(:rows) AS e, json_each(e.value, '$.to') AS t ORDER BY e.key, t.key"
    ),
}


class _Scheduled:
    """The window flush jobs this process committed and whose window is still open (a hub service).

    A transaction that finds its window's job here enqueues nothing: the job (queued, its run_at
    the window's end) takes every row of the window when it runs. Only jobs this process saw
    commit are remembered, and only until their window ends; should a job still run early (a
    worker whose clock is ahead), the rows it missed are flushed by the next window's job or by
    the upkeep, never lost.
    """

    def __init__(self) -> None:
        self._until: dict[str, float] = {}

    def __contains__(self, key: str) -> bool:
        return key in self._until

    def add(self, key: str, until: float, now: float) -> None:
        if len(self._until) >= 1000:  # forget the windows that ended (all of them, should none have)
            kept = {k: t for k, t in self._until.items() if t > now}
            self._until = kept if len(kept) < 1000 else {}
        self._until[key] = until


def _pending(tx: Tx) -> _Pending:
    p: _Pending | None = tx.state.get(_Pending)
    if p is None:
        p = tx.state[_Pending] = _Pending(tx)
        tx.before_commit(p.flush)
    return p


def event_of(ev: EventRecord) -> AnalyticsEvent:
    """A Hubwire event as an analytics event: its entity is the distinct id, its fields the properties."""
    props = {k.lstrip("$"): v for k, v in ev.data.items()} if isinstance(ev.data, Mapping) else {"data": ev.data}
    props.update(entity_type=ev.entity_type, entity_id=ev.entity_id)
    return AnalyticsEvent(ev.id, ev.type, ev.entity_id, ev.created_at, props, "hubwire")


async def forward_event(tx: Tx, ev: EventRecord) -> None:
    """The event sink: a committed event selected by an Integration's ``events`` is queued for its destinations."""
    pending = _pending(tx)
    if ev.entity_type == "Integration":
        pending.forwarders = None  # an analytics Integration may have changed in this transaction
    event: AnalyticsEvent | None = None
    for fw in await pending.targets():
        if fw.id == ev.entity_id or not fw.wants(ev.type):
            continue
        event = event or event_of(ev)
        pending.add(fw, event)
    if event is not None:
        pending.hooked.append(event)


async def record_collected(hub: Hub, events: Sequence[AnalyticsEvent]) -> int:
    """Accept collected events: queued for every Integration that collects, committed when this returns.

    Returns how many. Group commit (:class:`_CollectWriter`): the calls that arrive while a
    transaction commits go together in the next one.
    """
    if not events:
        return 0
    return await hub.service(_CollectWriter, lambda: _CollectWriter(hub)).record(events)


_GROUP_EVENTS = 2000  # collected events per transaction at most


class _CollectWriter:
    """Group commit of collected events, one per hub (:class:`~hubwire.store.group.GroupCommit`, as
    the inbox of provider webhooks): :meth:`record` returns once its events and their flush jobs
    committed; under load a transaction carries many requests' events."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self._group: GroupCommit[Sequence[AnalyticsEvent], int] = GroupCommit(
            self._write_calls, limit=_GROUP_EVENTS, weigh=len, name="hubwire-collect-writer"
        )

    async def record(self, events: Sequence[AnalyticsEvent]) -> int:
        return await self._group.submit(events)

    async def close(self) -> None:
        await self._group.close()

    async def _write_calls(self, calls: list[Sequence[AnalyticsEvent]]) -> list[int]:
        await self._write([e for events in calls for e in events])
        return [len(events) for events in calls]

    async def _write(self, events: Sequence[AnalyticsEvent]) -> None:
        async with self.hub.transaction() as tx:
            pending = _pending(tx)
            targets = [fw for fw in await pending.targets() if fw.collect]
            for event in events:
                for fw in targets:
                    pending.add(fw, event)
            pending.hooked.extend(events)


# The flush job ----------------------------------------------------------------------------


class _Refused(Exception):
    """The destination refused the batch (a 4xx other than 429): retrying would not help."""


async def _send(
    hub: Hub, integration_id: str, dest: str, conf: Mapping[str, str], events: Sequence[AnalyticsEvent]
) -> int:
    """Send one batch (its requests, in order); the last status code. Raises ProviderError."""
    client = http_client(hub)
    secrets = tuple(v for v in conf.values() if isinstance(v, str) and v)
    code = 0
    for req in DESTINATIONS[dest].build(conf, events):
        resp = await client.request(
            "POST",
            req.url,
            params=req.params or None,
            headers=req.headers or None,
            json=req.json,
            content=req.content,
            secrets=secrets,
            provider=f"{PROVIDER}:{dest}",
            integration_id=integration_id,
        )
        code = resp.status_code
    return code


async def _log(hub: Hub, row: dict[str, Any], outbox_ids: Sequence[int], status: str, error: str | None) -> None:
    """One transaction: the batch in the log, and its outbox rows deleted (sent), failed or dead."""
    async with hub.transaction() as tx:
        await tx.conn.execute(analytics_batches.insert().values(**row))
        target = analytics_outbox.c.id.in_(list(outbox_ids))
        if status == "succeeded":
            await tx.conn.execute(analytics_outbox.delete().where(target))
        else:
            values: dict[str, Any] = {"attempts": analytics_outbox.c.attempts + 1, "last_error": error}
            if status == "dead":
                values["status"] = "dead"
            await tx.conn.execute(analytics_outbox.update().where(target).values(**values))


class _FlushLocks:
    """One flush per destination at a time in this process (another process may still overlap:
    at least once, the destinations dedupe)."""

    def __init__(self) -> None:
        self.locks: dict[tuple[str, str], asyncio.Lock] = {}

    def of(self, integration_id: str, destination: str) -> asyncio.Lock:
        return self.locks.setdefault((integration_id, destination), asyncio.Lock())


async def flush(hub: Hub, integration_id: str, destination: str, *, final: bool = False) -> int:
    """Send what is pending for one destination, in batches; how many events were sent.

    Raises :class:`Retry` when a batch failed in a way worth retrying (unless ``final``: then its
    events are dead, as for a refusal).
    """
    async with hub.service(_FlushLocks, _FlushLocks).of(integration_id, destination):
        return await _flush(hub, integration_id, destination, final=final)


async def _flush(hub: Hub, integration_id: str, destination: str, *, final: bool) -> int:
    creds = (await load_credentials(hub, integration_id)).get("destinations") or {}
    conf = creds.get(destination)
    async with hub.read() as conn:
        row = (await conn.execute(sa.select(entities.c.data).where(entities.c.id == integration_id))).first()
    if row is None or conf is None or (row.data or {}).get("status") not in ACTIVE:
        return 0  # disconnected or removed: its rows wait for a reconnect
    fw = forwarder_of(integration_id, row.data)
    size = min(fw.batch_size, 1000)

    async def attempt(rows: Sequence[tuple[int, str]]) -> _Outcome:
        return await _attempt(hub, integration_id, destination, conf, rows, final=final)

    # A pipeline: batch k+1 is read while batch k is in flight, and sent while batch k is logged.
    # A batch's rows stay pending until its log transaction deletes them, so a kill at any point
    # leaves them to the next flush (at least once).
    sent = 0
    rows = await _pending_rows(hub, integration_id, destination, size)
    sending = asyncio.ensure_future(attempt(rows)) if rows else None
    try:
        while sending is not None:
            ahead = await _pending_rows(hub, integration_id, destination, size, after=rows[-1][0])
            outcome = await sending
            sending = None
            if not ahead and outcome.status != "failed":
                # From the start again: a row whose id is below the last one read may have committed since.
                ahead = await _pending_rows(hub, integration_id, destination, size, exclude=outcome.ids)
            if ahead and outcome.status != "failed":
                sending = asyncio.ensure_future(attempt(ahead))
            await _log(hub, outcome.entry, outcome.ids, outcome.status, outcome.entry["error"])
            if outcome.status == "failed":
                error = outcome.error or "failed"
                raise Retry(outcome.retry or 0.0, error) if outcome.retry else _Again(error)
            if outcome.status == "dead":
                log.warning(
                    "analytics.batch_dead", integration=integration_id, destination=destination, error=outcome.error
                )
            else:
                sent += len(outcome.ids)
            rows = ahead
        return sent
    finally:
        if sending is not None:  # a failure mid-pipeline: the batch in flight stays pending, sent again later
            sending.cancel()
            await asyncio.gather(sending, return_exceptions=True)


async def _pending_rows(
    hub: Hub, integration_id: str, destination: str, size: int, *, after: int = 0, exclude: Sequence[int] = ()
) -> list[tuple[int, str]]:
    """The next ``size`` pending rows (id, event) of a destination, oldest first, with an id above ``after``."""
    q = (
        sa.select(analytics_outbox.c.id, analytics_outbox.c.event)
        .where(
            analytics_outbox.c.integration_id == integration_id,
            analytics_outbox.c.destination == destination,
            analytics_outbox.c.status == "pending",
            analytics_outbox.c.id > after,
        )
        .order_by(analytics_outbox.c.id)
        .limit(size)
    )
    if exclude:
        q = q.where(analytics_outbox.c.id.not_in(list(exclude)))
    async with hub.read() as conn:
        return [(r.id, r.event) for r in (await conn.execute(q)).all()]


@dataclass
class _Outcome:
    """One batch sent (or not): its delivery log entry, its outbox rows, and what to do next."""

    ids: list[int]
    entry: dict[str, Any]
    status: str
    error: str | None
    retry: float | None


async def _attempt(
    hub: Hub,
    integration_id: str,
    destination: str,
    conf: Mapping[str, str],
    rows: Sequence[tuple[int, str]],
    *,
    final: bool,
) -> _Outcome:
    """Send one batch of outbox rows; what happened (never raises for the destination's answer)."""
    events = [AnalyticsEvent.from_json(event) for _, event in rows]
    started, t0 = hub.clock(), time.perf_counter()
    code: int | None = None
    error: str | None = None
    retry: float | None = None
    try:
        code = await _send(hub, integration_id, destination, conf, events)
    except ProviderError as exc:
        code, error = exc.provider_status, redact_text(exc.message)
        if isinstance(exc, ProviderRateLimited | ProviderUnavailable):
            wait = exc.fields.get("retry_after")
            retry = float(wait) if isinstance(wait, int | float) else 0.0
    except HubwireError as exc:  # e.g. the SSRF guard refused the address: not worth retrying
        error = redact_text(exc.message)
    status = "succeeded" if error is None else ("failed" if retry is not None and not final else "dead")
    entry = {
        "integration_id": integration_id,
        "destination": destination,
        "events": len(events),
        "status": status,
        "status_code": code,
        "error": None if error is None else error[:RESPONSE_LIMIT],
        "started_at": started,
        "latency_ms": (time.perf_counter() - t0) * 1000.0,
    }
    return _Outcome([i for i, _ in rows], entry, status, error, retry)


class _Again(Exception):
    """Retry on the job kind's backoff."""


@job_kind(FLUSH_JOB, max_attempts=MAX_ATTEMPTS, backoff=Backoff(base=2.0, factor=2.0, max=600.0), timeout=None)
async def _flush_job(job: Job, hub: Hub) -> int:
    p = job.payload
    return await flush(hub, str(p["integration"]), str(p["destination"]), final=job.attempts >= job.max_attempts)


# The delivery log ---------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchRow:
    id: int
    integration_id: str
    destination: str
    events: int
    status: str
    status_code: int | None
    error: str | None
    started_at: float
    latency_ms: float | None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["started_at"] = iso(self.started_at)
        return d


async def list_batches(
    hub: Hub, *, integration_id: str | None = None, destination: str | None = None, limit: int = 50
) -> list[BatchRow]:
    """The delivery log, newest first."""
    q = sa.select(*analytics_batches.columns).order_by(analytics_batches.c.id.desc()).limit(max(1, min(limit, 1000)))
    if integration_id:
        q = q.where(analytics_batches.c.integration_id == integration_id)
    if destination:
        q = q.where(analytics_batches.c.destination == destination)
    async with hub.read() as conn:
        return [BatchRow(*r) for r in (await conn.execute(q)).all()]


async def pending_counts(hub: Hub, integration_id: str | None = None) -> dict[str, dict[str, int]]:
    """Events not yet forwarded: ``{destination: {"pending": n, "dead": m}}``."""
    q = sa.select(analytics_outbox.c.destination, analytics_outbox.c.status, sa.func.count()).group_by(
        analytics_outbox.c.destination, analytics_outbox.c.status
    )
    if integration_id:
        q = q.where(analytics_outbox.c.integration_id == integration_id)
    out: dict[str, dict[str, int]] = {}
    async with hub.read() as conn:
        for dest, status, n in (await conn.execute(q)).all():
            out.setdefault(dest, {"pending": 0, "dead": 0})[status] = n
    return out


async def reschedule(hub: Hub) -> int:
    """Upkeep: a flush for every destination that still has pending events (none lost to a race)."""
    q = (
        sa.select(analytics_outbox.c.integration_id, analytics_outbox.c.destination)
        .where(analytics_outbox.c.status == "pending")
        .group_by(analytics_outbox.c.integration_id, analytics_outbox.c.destination)
    )
    async with hub.transaction() as tx:
        pairs = (await tx.conn.execute(q)).all()
        for iid, dest in pairs:
            await queue.enqueue(
                tx,
                FLUSH_JOB,
                {"integration": iid, "destination": dest},
                key=f"{FLUSH_JOB}:{iid}:{dest}:upkeep",
                max_attempts=MAX_ATTEMPTS,
            )
    return len(pairs)


@on_hub
def install(hub: Hub) -> None:
    if forward_event not in hub.event_sinks:
        hub.event_sinks.append(forward_event)
    if reschedule not in hub.maintenance:
        hub.maintenance.append(reschedule)
