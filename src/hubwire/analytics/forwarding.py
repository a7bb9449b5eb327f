"""Forwarding: the outbox of events per destination, the batched flush job, and the delivery log.

Durable by construction: the events to forward become ``analytics_outbox`` rows in the
transaction that commits them (Hubwire events, through the event sink :func:`forward_event`) or
accepts them (:func:`record_collected`, for ``POST /v1/collect``): the transaction's events once
(a payload, :mod:`hubwire.analytics.payloads`) and one row per destination that takes some of
them, which refers to it, with a flush job for that destination. A row is deleted only after its
destination accepted its events (and the payload with the last row that held it), so a worker
killed at any point leaves rows that the next flush sends (at least once; each event carries a
stable id the destinations dedupe on: PostHog ``uuid``, Mixpanel ``$insert_id``, Segment
``messageId``, Sentry ``event_id``).

Batching, by age and size (:class:`hubwire.jobs.windows.Windows`): the flush job of a destination
runs at the end of the ``flush_interval``-second window of its first event (one job per window),
and one runs at once each time this process's events of the window pass ``batch_size``. A flush
sends what is pending in batches of the rows that hold at most ``batch_size`` events (at least one
row; each destination's requests carry at most its ``batch_limit``), pipelined: the next batch is
read while one is in flight, and sent while the previous one is logged. A request that fails with a 5xx, 429 (its
Retry-After honoured) or no answer is retried on the job's backoff; one the destination refuses
(another 4xx) marks its events ``dead`` with the reason. Every request batch is a row of the
delivery log (``analytics_batches``: :func:`list_batches`, ``GET /v1/analytics/deliveries``,
``hubwire analytics deliveries``). Every worker's upkeep re-schedules destinations that still
have pending events (a flush that ended as an event arrived), every ten minutes.

The hook for other stores of these events: :func:`on_forward` registers a callable that gets
every collected and every forwarded event (once each, whatever the number of destinations) with
the :class:`~hubwire.store.statements.Writes` of the transaction that commits them, to add its
own statements to. Collected events are written as such a statement list alone: one hop to
SQLite's thread, pipelined on PostgreSQL; forwarded Hubwire events run theirs in the
transaction of the events.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
import structlog

from hubwire import jsonfast
from hubwire.analytics.destinations import DESTINATIONS, AnalyticsEvent, events_json, events_of, joined_events_json
from hubwire.analytics.payloads import Payload, release, store
from hubwire.errors import HubwireError, ProviderError, ProviderRateLimited, ProviderUnavailable
from hubwire.events.registry import matches
from hubwire.extensions import on_hub
from hubwire.jobs import queue
from hubwire.jobs.kinds import Backoff, Job, Retry, job_kind
from hubwire.jobs.windows import Windows
from hubwire.net.http import http_client
from hubwire.net.redact import redact_text
from hubwire.store.events import iso
from hubwire.store.group import GroupCommit
from hubwire.store.statements import Statement, Writes, insert
from hubwire.store.tables import analytics_batches, analytics_outbox, analytics_payloads, entities
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
IN_FLIGHT = 4  # batches of one destination in flight at once
RESPONSE_LIMIT = 300

ForwardHook = Callable[["Hub", Writes, Payload], None]
_hooks: list[ForwardHook] = []


def on_forward(hook: ForwardHook) -> ForwardHook:
    """Register ``hook(hub, writes, payload)``: every collected and forwarded event, once
    (``payload.events``), to add statements to the ``writes`` of the transaction that commits them
    (a lakehouse copy). A row it writes that refers to the stored events keeps ``payload.hold()``,
    and gives it back with :func:`~hubwire.analytics.payloads.release` when it deletes the row."""
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


FORWARDERS_TTL = 1.0  # seconds: how late a change committed by another process is seen


class _Forwarders:
    """The active analytics Integrations as this process last read them (a hub service).

    Every transaction that collects or commits events asks which Integrations forward them; a read
    per transaction was a third of a small one's time. The list is read again after
    :data:`FORWARDERS_TTL` seconds, and at once after this process commits a change to an
    Integration (so a connect or disconnect here takes effect for the next transaction; one made
    by another process, within the TTL: the events collected there meanwhile went to the
    Integrations active before).
    """

    def __init__(self) -> None:
        self._list: list[Forwarder] | None = None
        self._read_at = 0.0

    async def get(self, hub: Hub, conn: AsyncConnection | None = None) -> list[Forwarder]:
        """The list, read again (on ``conn``, else a connection of its own) when it is too old."""
        now = time.monotonic()
        if self._list is None or not 0 <= now - self._read_at < FORWARDERS_TTL:
            if conn is None:
                async with hub.read() as own:
                    self._list = await active_forwarders(own)
            else:
                self._list = await active_forwarders(conn)
            self._read_at = now
        return self._list

    def forget(self) -> None:
        self._list = None


class _Queued:
    """Events to forward, per Integration, and the statements that queue them.

    ``payload``: the caller's own payload of the events it queues (made with their JSON), used for
    every list of the same events.
    """

    def __init__(self, payload: Payload | None = None) -> None:
        self.events: dict[str, list[AnalyticsEvent]] = {}  # per Integration with a destination: its events
        self.senders: dict[str, Forwarder] = {}
        self.hooked: list[AnalyticsEvent] = []  # each event once, for the on_forward hooks
        self.payload = payload

    def add(self, fw: Forwarder, events: Sequence[AnalyticsEvent]) -> None:
        """Queue ``events`` for the destinations of ``fw``."""
        if fw.destinations:
            self.events.setdefault(fw.id, []).extend(events)
            self.senders[fw.id] = fw

    def writes(self, hub: Hub) -> Writes:
        """The events once (a payload per distinct list: usually one), the hooks' statements, a row
        per destination that takes some of them, the flush jobs."""
        writes = Writes(hub.dialect)
        payloads: dict[tuple[str, ...], Payload] = {}
        if self.payload is not None:
            payloads[tuple(e.id for e in self.payload.events)] = self.payload

        def payload_of(events: Sequence[AnalyticsEvent]) -> Payload:
            key = tuple(e.id for e in events)
            found = payloads.get(key)
            if found is None:
                found = payloads[key] = Payload(events)
            return found

        if self.hooked:
            hooked = payload_of(self.hooked)
            for hook in list(_hooks):
                hook(hub, writes, hooked)
        now = hub.clock()
        rows: list[dict[str, Any]] = []
        windows = hub.service(Windows)
        for iid, events in self.events.items():
            fw = self.senders[iid]
            payload = payload_of(events)
            for dest in fw.destinations:
                count = len(DESTINATIONS[dest].taken(events))
                if not count:
                    continue
                rows.append(
                    {
                        "integration_id": iid,
                        "destination": dest,
                        "payload_id": payload.hold(),
                        "count": count,
                        "status": "pending",
                        "attempts": 0,
                        "created_at": now,
                    }
                )
                windows.enqueue_into(
                    writes,
                    hub,
                    FLUSH_JOB,
                    {"integration": iid, "destination": dest},
                    name=f"{iid}:{dest}",
                    items=count,
                    interval=fw.flush_interval,
                    batch=fw.batch_size,
                    max_attempts=MAX_ATTEMPTS,
                )
        if rows:
            writes.statements.append(insert(hub.dialect, "analytics_outbox", rows))
        store(writes, payloads.values(), now)
        return writes


class _Pending:
    """What one transaction forwards (its Hubwire events), written just before it commits."""

    def __init__(self, tx: Tx) -> None:
        self.tx = tx
        self.forwarders: list[Forwarder] | None = None
        self.integration_changed = False  # in this transaction: read the Integrations as it sees them
        self.queued = _Queued()

    async def targets(self) -> list[Forwarder]:
        if self.forwarders is None:
            if self.integration_changed:
                self.forwarders = await active_forwarders(self.tx.conn)
            else:
                self.forwarders = await self.tx.hub.service(_Forwarders).get(self.tx.hub, self.tx.conn)
        return self.forwarders

    def integration_changes(self) -> None:
        """An Integration changed in this transaction: read them again (now, and in later transactions)."""
        self.forwarders = None
        if not self.integration_changed:
            self.integration_changed = True
            self.tx.after_commit(self.tx.hub.service(_Forwarders).forget)

    async def flush(self) -> None:
        self.tx.state.pop(_Pending, None)
        queued, self.queued = self.queued, _Queued()
        await queued.writes(self.tx.hub).run_in(self.tx)


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
        pending.integration_changes()  # an analytics Integration may have changed in this transaction
    event: AnalyticsEvent | None = None
    for fw in await pending.targets():
        if fw.id == ev.entity_id or not fw.wants(ev.type):
            continue
        event = event or event_of(ev)
        pending.queued.add(fw, (event,))
    if event is not None:
        pending.queued.hooked.append(event)


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
    committed; under load a transaction carries many requests' events. Each call's events are
    encoded as it comes (see :class:`~hubwire.analytics.payloads.Payload`)."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self._group: GroupCommit[tuple[Sequence[AnalyticsEvent], str], int] = GroupCommit(
            self._write_calls, limit=_GROUP_EVENTS, weigh=lambda call: len(call[0]), name="hubwire-collect-writer"
        )

    async def record(self, events: Sequence[AnalyticsEvent]) -> int:
        return await self._group.submit((events, events_json(events)))

    async def close(self) -> None:
        await self._group.close()

    async def _write_calls(self, calls: list[tuple[Sequence[AnalyticsEvent], str]]) -> list[int]:
        events = [e for call, _ in calls for e in call]
        queued = _Queued(Payload(events, json=joined_events_json([json for _, json in calls])))
        # Its own transaction of known statements: one hop on SQLite.
        for fw in await self.hub.service(_Forwarders).get(self.hub):
            if fw.collect:
                queued.add(fw, events)
        queued.hooked.extend(events)
        await queued.writes(self.hub).commit(self.hub)
        return [len(call) for call, _ in calls]


# The flush job ----------------------------------------------------------------------------


class _Refused(Exception):
    """The destination refused the batch (a 4xx other than 429): retrying would not help."""


async def _send(
    hub: Hub, integration_id: str, dest: str, conf: Mapping[str, str], events: Sequence[AnalyticsEvent]
) -> int:
    """Send one batch (its requests, in order); the last status code. Raises ProviderError."""
    client = http_client(hub)
    secrets = tuple(v for v in conf.values() if isinstance(v, str) and v)
    destination = DESTINATIONS[dest]
    size = destination.batch_limit
    requests = [r for i in range(0, len(events), size) for r in destination.build(conf, events[i : i + size])]
    code = 0
    for req in requests:
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


async def _log(hub: Hub, outcomes: Sequence[_Outcome]) -> None:
    """One transaction (one hop on SQLite): each batch in the log, and its outbox rows deleted (sent),
    failed or dead."""
    writes = Writes(hub.dialect)
    pg = hub.dialect == "postgresql"
    released: list[str] = []  # the payloads of the rows sent
    for outcome in outcomes:
        row, ids = outcome.entry, [r.id for r in outcome.rows]
        writes.statements.append(insert(hub.dialect, "analytics_batches", row))
        outbox_status = "dead" if outcome.status == "dead" else "pending"
        if outcome.status == "succeeded":
            released.extend(r.payload_id for r in outcome.rows)
        if pg and outcome.status == "succeeded":
            writes.statements.append(Statement("DELETE FROM analytics_outbox WHERE id = ANY(%(ids)s)", {"ids": ids}))
        elif pg:
            params = {"ids": ids, "error": row["error"], "status": outbox_status}
            writes.statements.append(Statement(_FAILED_PG, params))
        elif outcome.status == "succeeded":
            writes.statements.append(Statement(_SENT_SQLITE, (jsonfast.dumps(ids),)))
        else:
            writes.statements.append(Statement(_FAILED_SQLITE, (row["error"], outbox_status, jsonfast.dumps(ids))))
    writes.statements.extend(release(hub.dialect, released))
    await writes.commit(hub)


_FAILED_PG = (
    "UPDATE analytics_outbox SET attempts = attempts + 1, last_error = %(error)s, status = %(status)s "
    "WHERE id = ANY(%(ids)s)"
)
_SENT_SQLITE = "DELETE FROM analytics_outbox WHERE id IN (SELECT value FROM json_each(?))"
_FAILED_SQLITE = (
    "UPDATE analytics_outbox SET attempts = attempts + 1, last_error = ?, status = ? "
    "WHERE id IN (SELECT value FROM json_each(?))"
)


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

    async def attempt(rows: Sequence[_Row]) -> _Outcome:
        return await _attempt(hub, integration_id, destination, conf, rows, final=final)

    # Up to IN_FLIGHT batches in flight, read IN_FLIGHT batches at a time; the batches whose answers
    # are in are logged together. A batch's rows stay pending until its log transaction deletes
    # them, so a kill at any point leaves them to the next flush (at least once). A failure stops
    # new batches; those in flight are logged.
    sent = 0
    ready: deque[list[_Row]] = deque()  # read, not sent yet
    flying: dict[asyncio.Future[_Outcome], list[_Row]] = {}
    last = 0  # the highest outbox id read
    failed: _Outcome | None = None
    try:
        while True:
            while failed is None and len(flying) < IN_FLIGHT:
                if not ready:
                    rows = await _pending_rows(hub, integration_id, destination, size * IN_FLIGHT, after=last)
                    if not rows:
                        # From the start again: a row whose id is below the last one read may have committed since.
                        busy = [r.id for batch in flying.values() for r in batch]
                        rows = await _pending_rows(hub, integration_id, destination, size, exclude=busy)
                        if not rows:
                            break
                    batches = _batches(rows, size)
                    if flying and sum(r.count for r in batches[-1]) < size:
                        # A short last batch waits for an answer: events arriving meanwhile fill it
                        # (sent at once, a stream of events went out in many small requests).
                        last = max(last, batches.pop()[0].id - 1)
                    else:
                        last = max(last, rows[-1].id)
                    ready.extend(batches)
                    if not ready:
                        break
                batch = ready.popleft()
                flying[asyncio.ensure_future(attempt(batch))] = batch
            if not flying:
                break
            done, _ = await asyncio.wait(flying, return_when=asyncio.FIRST_COMPLETED)
            outcomes = []
            for future in done:
                del flying[future]
                outcomes.append(future.result())
            await _log(hub, outcomes)
            for outcome in outcomes:
                if outcome.status == "failed":
                    failed = failed or outcome
                elif outcome.status == "dead":
                    log.warning(
                        "analytics.batch_dead", integration=integration_id, destination=destination, error=outcome.error
                    )
                else:
                    sent += outcome.entry["events"]
        if failed is not None:
            error = failed.error or "failed"
            raise Retry(failed.retry or 0.0, error) if failed.retry else _Again(error)
        return sent
    finally:
        for future in flying:  # cancelled (the job was): the batches in flight stay pending, sent again later
            future.cancel()
        await asyncio.gather(*flying, return_exceptions=True)


@dataclass(frozen=True)
class _Row:
    """A pending outbox row as a flush reads it."""

    id: int
    payload_id: str
    events: str  # the payload's, a JSON array (the destination takes ``count`` of them)
    count: int


def _batches(rows: Sequence[_Row], size: int) -> list[list[_Row]]:
    """Consecutive rows in batches of at most ``size`` events (a row of more is a batch alone)."""
    out: list[list[_Row]] = []
    held = 0
    for row in rows:
        if not out or held + row.count > size:
            out.append([])
            held = 0
        out[-1].append(row)
        held += row.count
    return out


def _pending_query(*, excluding: bool) -> sa.Select[Any]:
    """The query of :func:`_pending_rows` (built once: building it was most of a read's time)."""
    c = analytics_outbox.c
    head = (
        sa.select(c.id, c.count)
        .where(
            c.integration_id == sa.bindparam("integration_id"),
            c.destination == sa.bindparam("destination"),
            c.status == "pending",
            c.id > sa.bindparam("after"),
        )
        .order_by(c.id)
        .limit(sa.bindparam("size"))  # a row holds at least one event
    )
    if excluding:
        head = head.where(c.id.not_in(sa.bindparam("exclude", expanding=True)))
    first = head.subquery()
    before = sa.func.sum(first.c.count).over(order_by=first.c.id) - first.c.count
    run = sa.select(first.c.id, before.label("before")).subquery()
    return (
        sa.select(c.id, c.payload_id, analytics_payloads.c.events, c.count)
        .join_from(analytics_outbox, run, c.id == run.c.id)
        .join(analytics_payloads, analytics_payloads.c.id == c.payload_id)
        .where(run.c.before < sa.bindparam("size"))
        .order_by(c.id)
    )


_PENDING = _pending_query(excluding=False)
_PENDING_EXCLUDING = _pending_query(excluding=True)


async def _pending_rows(
    hub: Hub, integration_id: str, destination: str, size: int, *, after: int = 0, exclude: Sequence[int] = ()
) -> list[_Row]:
    """The next pending rows of a destination, oldest first, with an id above ``after`` and not in
    ``exclude``: as many as hold at most ``size`` events together (at least one row)."""
    params: dict[str, Any] = {"integration_id": integration_id, "destination": destination}
    params.update(after=after, size=size)
    if exclude:
        params["exclude"] = list(exclude)
    async with hub.read() as conn:
        rows = await conn.execute(_PENDING_EXCLUDING if exclude else _PENDING, params)
        return [_Row(*r) for r in rows.all()]


@dataclass
class _Outcome:
    """One batch sent (or not): its delivery log entry, its outbox rows, and what to do next."""

    rows: Sequence[_Row]
    entry: dict[str, Any]
    status: str
    error: str | None
    retry: float | None


async def _attempt(
    hub: Hub,
    integration_id: str,
    destination: str,
    conf: Mapping[str, str],
    rows: Sequence[_Row],
    *,
    final: bool,
) -> _Outcome:
    """Send one batch of outbox rows; what happened (never raises for the destination's answer)."""
    takes = DESTINATIONS[destination].taken
    events = [e for row in rows for e in takes(events_of(row.events))]
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
    return _Outcome(rows, entry, status, error, retry)


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
    q = sa.select(analytics_outbox.c.destination, analytics_outbox.c.status, sa.func.sum(analytics_outbox.c.count))
    q = q.group_by(analytics_outbox.c.destination, analytics_outbox.c.status)
    if integration_id:
        q = q.where(analytics_outbox.c.integration_id == integration_id)
    out: dict[str, dict[str, int]] = {}
    async with hub.read() as conn:
        for dest, status, n in (await conn.execute(q)).all():
            out.setdefault(dest, {"pending": 0, "dead": 0})[status] = int(n)
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
