"""Delivering one webhook attempt: the ``webhook.deliver`` job kind and its per-hub runtime.

A job carries a delivery id, its endpoint and the exact body, so an attempt needs no database
read beyond the (cached) endpoint. Each attempt is a signed POST through one pooled aiohttp
session per hub (closed with the hub), redirects not followed, the SSRF guard re-checking the
addresses actually dialled. Every attempt is recorded before its job counts as done: a success
is returned to the worker, which writes it with the job's completion (the kind's ``finish``: one
transaction per batch of finished jobs, no transaction of its own); a failure, whose retry depends
on the endpoint's health, is written at once by a group commit (:class:`AttemptRecorder`).

Outcomes: 2xx succeeds; 410 disables the endpoint at once (status Disconnected, ``error`` set,
``Integration.Errored``); anything else is retried on the endpoint's schedule (``Retry-After`` on
429/503 honoured, clamped to [1 s, 6 h]) until its attempts are spent (dead-lettered, replayable),
or until the endpoint has failed without a success for its ``disable_after`` window (disabled as
for 410). Rate and concurrency limits hold per endpoint *within one worker process*: N worker
processes may together send up to N times the limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp
import structlog
from yarl import URL

from hubwire import jsonfast
from hubwire.domains.platform import Integration
from hubwire.errors import HubwireError, NotFoundError
from hubwire.jobs.kinds import Backoff, Dead, Job, Retry, job_kind
from hubwire.net.redact import redact_text, redact_values
from hubwire.net.ssrf import AddressPolicy, GuardedResolver, check_url
from hubwire.store.statements import Statement, run_on, run_on_cursor
from hubwire.store.tables import webhook_deliveries
from hubwire.webhooks import destinations
from hubwire.webhooks.destinations import Destination, Sent
from hubwire.webhooks.endpoints import Endpoint, EndpointCache
from hubwire.webhooks.signing import Signer

if TYPE_CHECKING:
    from hubwire.hub import Hub

__all__ = [
    "DELIVER_JOB",
    "RESPONSE_LIMIT",
    "AttemptRecorder",
    "Deliverer",
    "Outcome",
    "deliverer",
    "disable_endpoint",
    "outcome_statements",
]

log = structlog.get_logger("hubwire.webhooks")

DELIVER_JOB = "webhook.deliver"
RESPONSE_LIMIT = 4096
RETRY_AFTER_BOUNDS = (1.0, 6 * 3600.0)
USER_AGENT = "Hubwire-Webhooks/1"
# An attempt's answer: (status code, first 4 KB of the response, error, headers).
Answer = tuple[int | None, str | None, str | None, Any]


@dataclass
class Outcome:
    """One attempt, as recorded: the attempt row and the delivery's new state."""

    delivery_id: str
    endpoint_id: str
    attempt: int
    started_at: float
    latency_ms: float | None
    status_code: int | None
    response_body: str | None
    error: str | None
    status: str  # succeeded | failed | dead
    next_attempt_at: float | None = None


class AttemptRecorder:
    """Group commit of attempts: callers await their outcome being durable; one transaction per batch.

    Each caller gets back its endpoint's ``failing_since`` (None after a success): the start of
    the current run of failures, which decides the disable window.
    """

    def __init__(self, hub: Hub, linger: float = 0.002) -> None:
        self.hub = hub
        self._pending: list[tuple[Outcome, asyncio.Future[float | None]]] = []
        self._task: asyncio.Task[None] | None = None
        self.linger = linger

    async def record(self, outcome: Outcome) -> float | None:
        done: asyncio.Future[float | None] = asyncio.get_running_loop().create_future()
        self._pending.append((outcome, done))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())
        return await done

    async def _run(self) -> None:
        while self._pending:
            # Linger a moment so that the attempts finishing together share one transaction.
            await asyncio.sleep(self.linger)
            batch, self._pending = self._pending, []
            try:
                failing = await self._flush([o for o, _ in batch])
            except Exception as exc:  # each caller's attempt fails and its job is retried
                for _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
                continue
            for o, done in batch:
                if not done.done():
                    done.set_result(failing.get(o.endpoint_id))

    async def _flush(self, batch: Sequence[Outcome]) -> dict[str, float | None]:
        stmts = outcome_statements(self.hub, batch)
        if self.hub.dialect == "postgresql":
            async with self.hub.autocommit() as conn:
                rows = await run_on(conn, stmts)
        else:
            rows = await self.hub.sqlite_write(lambda cur: run_on_cursor(cur, stmts))
        return {r[0]: r[1] for r in rows}


def outcome_statements(hub: Hub, batch: Sequence[Outcome]) -> list[Statement]:
    """The writes of a batch of attempts: attempt rows, the deliveries' state, the endpoints' health.

    The health statements return (endpoint id, ``failing_since``). On PostgreSQL it is all one
    statement, atomic on its own (so it may run in autocommit), the batch as JSON documents
    (encoded in one call each, parsed by the server): no per-row statements or binding. On SQLite,
    executemany in the caller's transaction (SQLite runs rows faster than anything can bind them).
    """
    if not batch:
        return []
    now = hub.clock()
    # The last outcome per endpoint decides its health; the first failure after a success starts the run.
    health: dict[str, tuple[bool, float]] = {}
    for o in batch:
        ok = o.status == "succeeded"
        prev = health.get(o.endpoint_id)
        start = o.started_at if ok or prev is None or prev[0] else prev[1]
        health[o.endpoint_id] = (ok, start)
    if hub.dialect == "postgresql":
        # Endpoint rows are upserted in id order: two workers recording batches for the same endpoints
        # then lock them in the same order (unordered, they deadlocked).
        last = {o.delivery_id: o for o in batch}.values()  # a delivery twice in a batch: its last attempt wins
        params = {
            "now": now,
            "attempts": jsonfast.dumps(
                [
                    [o.delivery_id, o.attempt, o.started_at, o.latency_ms, o.status_code, o.response_body, o.error]
                    for o in batch
                ]
            ),
            "deliveries": jsonfast.dumps(
                [[o.delivery_id, o.status, o.attempt, o.status_code, o.error, o.next_attempt_at] for o in last]
            ),
            "endpoints": jsonfast.dumps([[eid, ok, at] for eid, (ok, at) in health.items()]),
        }
        return [Statement(_PG_RECORD, params, returns=True)]
    endpoints = list(health.items())
    stmts = [
        Statement(
            _SQLITE_ATTEMPT,
            [
                (o.delivery_id, o.attempt, o.started_at, o.latency_ms, o.status_code, o.response_body, o.error)
                for o in batch
            ],
            many=True,
        ),
        Statement(
            _SQLITE_DELIVERY,
            [(o.status, o.attempt, o.status_code, o.error, o.next_attempt_at, now, o.delivery_id) for o in batch],
            many=True,
        ),
    ]
    # Every endpoint of the batch in one upsert (a few hundred rows at most per statement);
    # a success clears the run of failures.
    for i in range(0, len(endpoints), _SQLITE_HEALTH_ROWS):
        chunk = endpoints[i : i + _SQLITE_HEALTH_ROWS]
        values = tuple(
            v for eid, (ok, at) in chunk for v in (eid, None if ok else at, at if ok else None, None if ok else at)
        )
        stmts.append(Statement(_sqlite_health(len(chunk)), values, returns=True))
    return stmts


_SQLITE_ATTEMPT = (
    "INSERT INTO webhook_attempts (delivery_id, attempt, started_at, latency_ms, status_code, response_body, error) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_SQLITE_DELIVERY = (
    "UPDATE webhook_deliveries SET status = ?, attempts = ?, last_status_code = ?, last_error = ?, "
    "next_attempt_at = ?, updated_at = ? WHERE id = ?"
)
_SQLITE_HEALTH_ROWS = 200


@functools.cache
def _sqlite_health(rows: int) -> str:
    values = ", ".join(["(?, ?, ?, ?)"] * rows)
    return (
        "INSERT INTO webhook_endpoints AS e (integration_id, failing_since, last_success_at, last_failure_at) "
        f"VALUES {values} ON CONFLICT (integration_id) DO UPDATE SET "
        "failing_since = CASE WHEN excluded.last_success_at IS NOT NULL THEN NULL "
        "ELSE coalesce(e.failing_since, excluded.failing_since) END, "
        "last_success_at = coalesce(excluded.last_success_at, e.last_success_at), "
        "last_failure_at = coalesce(excluded.last_failure_at, e.last_failure_at) "
        "RETURNING integration_id, failing_since"
    )


# psycopg parameter style: run at driver level (statements.run_on).
_PG_RECORD = """
WITH attempts AS (
    INSERT INTO webhook_attempts (delivery_id, attempt, started_at, latency_ms, status_code, response_body, error)
    SELECT r->>0, (r->>1)::int, (r->>2)::float8, (r->>3)::float8, (r->>4)::int, r->>5, r->>6
    FROM json_array_elements(CAST(%(attempts)s AS json)) AS r
), deliveries AS (
    UPDATE webhook_deliveries SET status = u.r->>1, attempts = (u.r->>2)::int, last_status_code = (u.r->>3)::int,
        last_error = u.r->>4, next_attempt_at = (u.r->>5)::float8, updated_at = %(now)s
    FROM json_array_elements(CAST(%(deliveries)s AS json)) AS u(r)
    WHERE webhook_deliveries.id = u.r->>0
)
INSERT INTO webhook_endpoints AS e (integration_id, failing_since, last_success_at, last_failure_at)
SELECT h.id, CASE WHEN h.ok THEN NULL ELSE h.at END, CASE WHEN h.ok THEN h.at END,
    CASE WHEN h.ok THEN NULL ELSE h.at END
FROM (
    SELECT r->>0 AS id, (r->>1)::boolean AS ok, (r->>2)::float8 AS at
    FROM json_array_elements(CAST(%(endpoints)s AS json)) AS r
) AS h
ORDER BY h.id
ON CONFLICT (integration_id) DO UPDATE SET
    failing_since = CASE WHEN excluded.last_success_at IS NOT NULL THEN NULL
                         ELSE coalesce(e.failing_since, excluded.failing_since) END,
    last_success_at = coalesce(excluded.last_success_at, e.last_success_at),
    last_failure_at = coalesce(excluded.last_failure_at, e.last_failure_at)
RETURNING e.integration_id, e.failing_since
"""


_UNLIMITED = contextlib.nullcontext()  # an endpoint without limits: no per-attempt context manager to build


class _Limiter:
    """Per-endpoint concurrency (a semaphore) and rate (a token spacing), in real time."""

    def __init__(self, concurrency: int | None, rate: float | None) -> None:
        self.concurrency = concurrency
        self.rate = rate
        self._sem = asyncio.Semaphore(concurrency) if concurrency else None
        self._next = 0.0

    @contextlib.asynccontextmanager
    async def slot(self) -> Any:
        if self._sem is not None:
            await self._sem.acquire()
        try:
            if self.rate:
                now = time.monotonic()
                at = max(now, self._next)
                self._next = at + 1.0 / self.rate
                if at > now:
                    await asyncio.sleep(at - now)
            yield
        finally:
            if self._sem is not None:
                self._sem.release()


@dataclass
class _Prepared:
    """What every POST to one loaded endpoint shares, computed once per load: URL, headers, signer, timeout."""

    endpoint: Endpoint
    url: URL
    headers: dict[str, str]
    signer: Signer
    timeout: aiohttp.ClientTimeout
    refused: str | None  # the URL check's error: an IP literal the policy refuses


class Deliverer:
    """The delivery runtime of one hub in one process: session, endpoint cache, limits, recorder."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.cache = EndpointCache(hub)
        self.recorder = AttemptRecorder(hub)
        self.policy = AddressPolicy.from_settings(hub.settings)
        self._session: aiohttp.ClientSession | None = None
        self._limiters: dict[str, _Limiter] = {}
        self._prepared: dict[str, _Prepared] = {}

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=0, limit_per_host=0, resolver=GuardedResolver(self.policy), ttl_dns_cache=10
            )
            self._session = aiohttp.ClientSession(
                connector=connector, headers={"User-Agent": USER_AGENT}, auto_decompress=False
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def limiter(self, ep: Endpoint) -> _Limiter | None:
        """The endpoint's limits in this process, None when it has none."""
        if not ep.policy.concurrency and not ep.policy.rate_limit:
            return None
        lim = self._limiters.get(ep.id)
        if lim is None or lim.concurrency != ep.policy.concurrency or lim.rate != ep.policy.rate_limit:
            lim = self._limiters[ep.id] = _Limiter(ep.policy.concurrency, ep.policy.rate_limit)
        return lim

    async def _prepare(self, ep: Endpoint) -> _Prepared:
        prep = self._prepared.get(ep.id)
        if prep is not None and prep.endpoint is ep:
            return prep
        refused = None
        target = ep.url
        try:
            # An IP literal never reaches the resolver: check it here; host names are checked at dial time.
            # What is dialled is the normalised URL, the one the check read.
            target = await check_url(ep.url, self.policy, resolve=False)
        except HubwireError as exc:
            refused = exc.message
        try:
            url = URL(target)
        except (TypeError, ValueError) as exc:
            url, refused = URL(), refused or f"invalid URL: {exc}"
        prep = _Prepared(
            endpoint=ep,
            url=url,
            headers={**ep.headers, "content-type": "application/json"},
            signer=Signer(ep.keys),
            timeout=aiohttp.ClientTimeout(total=ep.policy.timeout),
            refused=refused,
        )
        self._prepared[ep.id] = prep
        return prep

    async def post(self, ep: Endpoint, msg_id: str, body: bytes) -> Answer:
        """One signed POST: (status code, first 4 KB of the response, error, headers)."""
        prep = await self._prepare(ep)
        if prep.refused is not None:
            return None, None, prep.refused, None
        headers = {**prep.headers, **prep.signer.headers(msg_id, int(self.hub.clock()), body)}
        return await self._send(ep, prep.url, body, headers, prep.timeout)

    async def request(self, ep: Endpoint, url: str, body: bytes, headers: dict[str, str]) -> Answer:
        """One POST of a destination (:mod:`hubwire.webhooks.destinations`) to ``url``, through the same
        guarded session, timeout and redaction as a webhook's; the answer as :meth:`post` gives it."""
        try:
            target = URL(await check_url(url, self.policy, resolve=False))
        except HubwireError as exc:
            return None, None, exc.message, None
        return await self._send(ep, target, body, headers, aiohttp.ClientTimeout(total=ep.policy.timeout))

    async def _send(
        self, ep: Endpoint, url: URL, body: bytes, headers: dict[str, str], timeout: aiohttp.ClientTimeout
    ) -> Answer:
        try:
            async with self.session().post(
                url, data=body, headers=headers, allow_redirects=False, timeout=timeout
            ) as resp:
                chunk = await resp.content.read(RESPONSE_LIMIT)
                # NUL cannot be stored in a PostgreSQL text column: it would fail the whole batch's record.
                text = chunk.decode("utf-8", "replace").replace("\x00", "\ufffd")
                # A receiver may echo what it got: the endpoint's secrets and header values are never kept.
                text = redact_values(text, ep.secrets)
                if not resp.content.at_eof():
                    resp.close()  # do not drain a huge answer to reuse the connection
                return resp.status, text, None, resp.headers
        except TimeoutError:
            return None, None, f"timeout after {ep.policy.timeout:g}s", None
        except HubwireError as exc:
            return None, None, exc.message, None
        except aiohttp.ClientConnectorError as exc:
            return None, None, f"cannot connect to {exc.host}:{exc.port}: {exc.os_error}", None
        except (aiohttp.ClientError, OSError) as exc:
            return None, None, f"{type(exc).__name__}: {exc}", None

    async def deliver(self, job: Job) -> Outcome | None:
        """One attempt. A success is returned, for the worker to record with the job's completion."""
        p = job.payload
        did, eid = str(p["delivery"]), str(p["endpoint"])
        attempt = int(p.get("base", 0)) + job.attempts
        try:
            ep = await self.cache.get(eid)
        except NotFoundError:
            await self._finish_dead(did, eid, attempt, "endpoint no longer exists")
            raise Dead("endpoint no longer exists") from None
        body = p["body"].encode()
        dest = destinations.get(ep.provider)
        event: dict[str, Any] = jsonfast.loads(body) if dest is not None else {}
        if not ep.active:
            msg = f"endpoint is {ep.status}"
            await self._finish_dead(did, eid, attempt, msg)
            if dest is not None:
                await _settle(dest, self.hub, ep, event, None, msg)
            raise Dead(msg)
        sent: Sent | None = None
        limiter = self.limiter(ep)
        async with _UNLIMITED if limiter is None else limiter.slot():
            started = self.hub.clock()
            t0 = time.perf_counter()
            if dest is None:
                code, text, error, headers = await self.post(ep, did, body)
            else:
                sent = await dest.send(self, ep, did, event)
                code, text, error, headers = sent.status_code, sent.response, sent.error, sent.headers
        latency = (time.perf_counter() - t0) * 1000.0
        if code is not None and 200 <= code < 300 and error is None:
            if dest is not None:
                await _settle(dest, self.hub, ep, event, sent, None)
            return Outcome(did, eid, attempt, started, latency, code, text, None, "succeeded")
        error = redact_text(error) if error else f"HTTP {code}"
        if code == 410:
            await self.recorder.record(Outcome(did, eid, attempt, started, latency, code, text, error, "dead"))
            await disable_endpoint(self.hub, eid, f"endpoint answered 410 Gone; disabled ({ep.url or ep.provider})")
            if dest is not None:
                await _settle(dest, self.hub, ep, event, sent, error)
            raise Dead("endpoint answered 410 Gone: disabled")
        # A destination's permanent refusal (a revoked token, an unknown channel) is not retried.
        exhausted = job.attempts >= job.max_attempts or (sent is not None and sent.permanent)
        delay = None if exhausted else _retry_delay(ep.policy.backoff, job.attempts, code, headers, started)
        status = "dead" if delay is None else "failed"
        next_at = None if delay is None else started + delay
        failing_since = await self.recorder.record(
            Outcome(did, eid, attempt, started, latency, code, text, error, status, next_at)
        )
        if failing_since is not None and self.hub.clock() - failing_since >= ep.policy.disable_after:
            days = ep.policy.disable_after / 86400
            await disable_endpoint(
                self.hub, eid, f"webhook endpoint failed without a success for {days:g} days; disabled ({error})"
            )
            await self._mark(did, "dead")
            if dest is not None:
                await _settle(dest, self.hub, ep, event, sent, error)
            raise Dead(f"endpoint disabled after failing for {days:g} days: {error}")
        if delay is None:
            if dest is not None:
                await _settle(dest, self.hub, ep, event, sent, error)
            raise Dead(f"attempts exhausted: {error}" if not (sent and sent.permanent) else f"refused: {error}")
        raise Retry(delay, error)

    async def _finish_dead(self, did: str, eid: str, attempt: int, error: str) -> None:
        now = self.hub.clock()
        await self.recorder.record(Outcome(did, eid, attempt, now, None, None, None, error, "dead"))

    async def _mark(self, did: str, status: str) -> None:
        async with self.hub.transaction() as tx:
            await tx.conn.execute(
                webhook_deliveries.update()
                .where(webhook_deliveries.c.id == did)
                .values(status=status, next_attempt_at=None, updated_at=self.hub.clock())
            )


async def _settle(
    dest: Destination, hub: Hub, ep: Endpoint, event: dict[str, Any], sent: Sent | None, error: str | None
) -> None:
    """Tell the destination its delivery is over. The attempt is sent and will be recorded whatever
    happens here: a failure to record it at the source is logged, not retried (that would send again)."""
    try:
        await dest.settled(hub, ep, event, sent, error)
    except Exception as exc:
        log.error("webhook.destination_settle_failed", endpoint=ep.id, error=redact_text(str(exc)))


def _retry_delay(backoff: Backoff, attempts: int, code: int | None, headers: Any, now: float) -> float:
    if code in (429, 503) and headers is not None:
        ra = _retry_after(headers.get("Retry-After"), now)
        if ra is not None:
            low, high = RETRY_AFTER_BOUNDS
            return min(high, max(low, ra))
    return backoff.delay(attempts)


def _retry_after(value: str | None, now: float) -> float | None:
    """``Retry-After`` in seconds from ``now`` (the hub's clock): delay-seconds, or an HTTP date."""
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        return parsedate_to_datetime(value).timestamp() - now
    except (TypeError, ValueError):
        return None


async def disable_endpoint(hub: Hub, endpoint_id: str, message: str) -> None:
    """Disable an endpoint: status Disconnected (credentials kept), ``error`` set, ``Integration.Errored``."""
    token = hub.activate()
    try:
        await Integration.disable(endpoint_id, message)
        log.warning("webhook.endpoint_disabled", endpoint=endpoint_id, reason=message)
    except HubwireError as exc:  # already disabled by a concurrent attempt, or removed
        log.info("webhook.disable_skipped", endpoint=endpoint_id, reason=exc.message)
    finally:
        token.var.reset(token)
    deliverer(hub).cache.clear()


def deliverer(hub: Hub) -> Deliverer:
    """The hub's deliverer (its HTTP session and endpoint cache), made on first use, closed with the hub."""
    return hub.service(Deliverer, lambda: Deliverer(hub))


# No job-level timeout: every step bounds itself (the POST by the endpoint's timeout). A successful
# attempt is returned and written by outcome_statements with the job's completion. A done delivery
# job is deleted: its delivery row and attempts log are the history (a resend rebuilds the body).
@job_kind(
    DELIVER_JOB,
    max_attempts=8,
    backoff=Backoff(base=5.0),
    timeout=None,
    finish=outcome_statements,
    keep_done=False,
)
async def _deliver_job(job: Job, hub: Hub) -> Outcome | None:
    return await deliverer(hub).deliver(job)
