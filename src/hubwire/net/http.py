"""The one outbound HTTP layer every provider uses.

It owns: one pooled ``httpx.AsyncClient`` per hub (closed with the hub), timeouts, retries with
jittered exponential backoff on 5xx, timeouts and connection errors (idempotent methods always,
writes only when they carry an idempotency key), ``Retry-After`` / ``X-RateLimit-Reset`` /
``RateLimit-Reset`` honoured on 429 and on a 403 whose ``X-RateLimit-Remaining`` is 0, a
*proactive* rate budget per connection (a sliding window that never lets more than N requests
start in any window), redaction of secrets from logs and errors, and the mapping of provider
responses to the typed errors of :mod:`hubwire.errors` (in :func:`error_for`, the only place):

    401, 403 (not a rate limit)  -> ProviderAuthError
    429, 403 with remaining 0    -> ProviderRateLimited   (after waiting and retrying, if allowed)
    404                          -> ProviderNotFound
    400, 402, 409, 422 and other 4xx -> ProviderInvalidRequest (the provider's message kept)
    5xx, timeouts, connection errors after retries -> ProviderUnavailable
    a dial the SSRF guard refuses   -> ValidationError (code ssrf_blocked), never retried

Every connection is dialled through :class:`~hubwire.net.ssrf.GuardedBackend` with the hub's
address policy: the addresses a host resolves to are checked, and a checked one is dialled.
Redirects are never followed, and proxies in the environment (``HTTPS_PROXY``) are not used: the
guard must see the destination, not a proxy. A provider's own words reach an error only as a bounded, sanitised
summary (:func:`summary`): never its body verbatim.

It never decides what a provider's data means: that is the connector's job.

    client = http_client(hub)                                   # one per hub
    resp = await client.request("GET", "https://api.example/v1/x", headers=..., budget=Budget("int_1", 25))
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpcore
import httpx
import structlog

from hubwire import jsonfast
from hubwire.errors import (
    ProviderAuthError,
    ProviderError,
    ProviderInvalidRequest,
    ProviderNotFound,
    ProviderRateLimited,
    ProviderUnavailable,
    ValidationError,
)
from hubwire.net.redact import register_secret, summary
from hubwire.net.ssrf import AddressPolicy, BlockedAddress, GuardedBackend

if TYPE_CHECKING:
    from hubwire.hub import Hub

__all__ = [
    "Budget",
    "HttpClient",
    "RateWindow",
    "RetryPolicy",
    "error_for",
    "http_client",
    "provider_message",
    "rate_limit_wait",
    "summary",
    "use_http_client",
]

log = structlog.get_logger("hubwire.net.http")
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry. Delay of attempt n: ``min(max, base * factor**n)``, full jitter."""

    attempts: int = 4
    base: float = 0.25
    factor: float = 2.0
    max: float = 20.0
    # A rate-limit wait longer than this is not slept through: the error goes to the caller (a job retries).
    max_wait: float = 60.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        cap = min(self.max, self.base * self.factor**attempt)
        return cap / 2 + rng.uniform(0, cap / 2)


@dataclass(frozen=True)
class Budget:
    """A connection's proactive rate budget: at most ``limit`` requests started per ``period`` seconds."""

    key: str
    limit: int
    period: float = 1.0


class RateWindow:
    """At most ``limit`` requests per ``period``, counted the strict way round.

    A slot is taken when a request starts and dated when its response has come back; a new
    request starts only when fewer than ``limit`` slots are in flight or dated within the last
    ``period``. As a request reaches the provider before its response returns, the provider can
    never see more than ``limit`` requests in any window, whatever the network delay.
    """

    def __init__(self, limit: int, period: float, clock: Clock, sleep: Sleep) -> None:
        self.limit = max(1, limit)
        self.period = period
        self._clock = clock
        self._sleep = sleep
        self._done: deque[float] = deque()
        self._inflight = 0
        self._wake = asyncio.Event()

    async def acquire(self) -> None:
        while True:
            now = self._clock()
            while self._done and now - self._done[0] >= self.period:
                self._done.popleft()
            if len(self._done) + self._inflight < self.limit:
                self._inflight += 1  # no await since the check: atomic on the event loop
                return
            if self._done:
                await self._sleep(self.period - (now - self._done[0]))
            else:
                self._wake.clear()
                await self._wake.wait()

    def release(self) -> None:
        self._inflight -= 1
        self._done.append(self._clock())
        self._wake.set()

    def hold(self, seconds: float) -> None:
        """The provider said to wait: date every slot so that nothing starts for ``seconds``."""
        until = self._clock() + seconds - self.period
        self._done = deque([until] * self.limit)


@dataclass
class HttpClient:
    """Pooled client with retries, rate budgets, redaction and typed errors. One per hub."""

    timeout: float = 30.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    clock: Clock = time.monotonic
    sleep: Sleep = asyncio.sleep
    transport: httpx.AsyncBaseTransport | None = None
    seed: int | None = None
    # What may be dialled; closed by default (http_client gives the hub's). Not used with ``transport``.
    policy: AddressPolicy = field(default_factory=AddressPolicy)

    def __post_init__(self) -> None:
        self._client: httpx.AsyncClient | None = None
        self._windows: dict[str, RateWindow] = {}
        self._rng = random.Random(self.seed)
        self.sent = 0

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            limits = httpx.Limits(max_connections=100, max_keepalive_connections=20)
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.timeout, connect=min(10.0, self.timeout)),
                limits=limits,
                transport=self.transport or _guarded_transport(self.policy, limits),
                follow_redirects=False,
                # HTTP(S)_PROXY would dial the proxy, not the destination, past the guard: a proxy
                # allowed by the policy could then fetch any address for us. Not read from the environment.
                trust_env=False,
            )
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def window(self, budget: Budget) -> RateWindow:
        w = self._windows.get(budget.key)
        if w is None or w.limit != budget.limit:
            w = self._windows[budget.key] = RateWindow(budget.limit, budget.period, self.clock, self.sleep)
        return w

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | list[tuple[str, Any]] | None = None,
        data: Mapping[str, Any] | None = None,
        json: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        idempotency_header: str = "Idempotency-Key",
        budget: Budget | None = None,
        secrets: tuple[str, ...] = (),
        provider: str | None = None,
        integration_id: str | None = None,
        rate_limit: Callable[[httpx.Response], float | None] | None = None,
    ) -> httpx.Response:
        """Send one logical request (maybe several attempts); return a 2xx/3xx response or raise a ProviderError.

        ``rate_limit`` reads a failed response as the provider means it: seconds to wait when it is a
        rate limit, else ``None`` (default :func:`rate_limit_wait`). A provider with a limit no
        header states (HubSpot's daily quota) gives its own; a wait over ``RetryPolicy.max_wait``
        is not slept through but raised (``ProviderRateLimited`` with ``retry_after``).
        """
        for s in secrets:
            register_secret(s)
        method = method.upper()
        hdrs = dict(headers or {})
        if idempotency_key:
            hdrs[idempotency_header] = idempotency_key
        if json is not None:  # orjson (hubwire.jsonfast), not httpx's json.dumps: a batch of events encodes 10x faster
            content, json = jsonfast.dumps(json).encode(), None
            if not any(k.lower() == "content-type" for k in hdrs):
                hdrs["Content-Type"] = "application/json"
        retryable = method in IDEMPOTENT or bool(idempotency_key)
        window = self.window(budget) if budget is not None else None
        where = {"provider": provider, "integration_id": integration_id}
        attempt = 0
        while True:
            if window is not None:
                await window.acquire()
            try:
                self.sent += 1
                resp = await self.client.request(
                    method, url, params=params, data=data, json=json, content=content, headers=hdrs
                )
                await resp.aread()
            except BlockedAddress as exc:
                raise ValidationError.single("api_base_url", "ssrf_blocked", str(exc), **where) from None
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                # A connect error never reached the provider: safe to retry even for a write.
                safe = retryable or isinstance(exc, httpx.ConnectError)
                if safe and attempt + 1 < self.retry.attempts:
                    await self._backoff(attempt, where, f"{type(exc).__name__}")
                    attempt += 1
                    continue
                raise ProviderUnavailable(
                    f"{method} {summary(_path(url))}: {type(exc).__name__}: {summary(str(exc))}".rstrip(": "),
                    attempts=attempt + 1,
                    method=method,
                    **where,
                ) from None
            finally:
                if window is not None:
                    window.release()
            if resp.status_code < 400:
                return resp
            wait = rate_limit(resp) if rate_limit is not None else rate_limit_wait(resp, self.clock)
            if wait is not None:
                if window is not None:
                    window.hold(wait)
                if wait <= self.retry.max_wait and attempt + 1 < self.retry.attempts:
                    log.info("http.rate_limited", wait=round(wait, 3), **where)
                    await self.sleep(wait)
                    attempt += 1
                    continue
            elif resp.status_code >= 500 and retryable and attempt + 1 < self.retry.attempts:
                await self._backoff(attempt, where, f"HTTP {resp.status_code}")
                attempt += 1
                continue
            raise error_for(resp, method=method, url=url, attempts=attempt + 1, wait=wait, **where)

    async def exchange(
        self,
        request: httpx.Request,
        *,
        field: str = "url",
        secrets: tuple[str, ...] = (),
        provider: str | None = None,
    ) -> httpx.Response:
        """Send ``request`` once through the guarded pool and return the response whatever its status.

        For protocols whose error responses the caller reads itself (an OAuth token endpoint's
        ``invalid_grant``): no retry, no status mapping. A refused dial is a ValidationError
        (``ssrf_blocked``, naming ``field``); a failed connection a ProviderUnavailable.
        """
        for s in secrets:
            register_secret(s)
        self.sent += 1
        try:
            resp = await self.client.send(request)
            await resp.aread()
        except BlockedAddress as exc:
            raise ValidationError.single(field, "ssrf_blocked", str(exc), provider=provider) from None
        except (httpx.TimeoutException, httpx.TransportError) as exc:
            raise ProviderUnavailable(
                f"{request.method} {summary(_path(str(request.url)))}: {type(exc).__name__}: {summary(str(exc))}",
                method=request.method,
                provider=provider,
            ) from None
        return resp

    async def _backoff(self, attempt: int, where: dict[str, Any], why: str) -> None:
        delay = self.retry.delay(attempt, self._rng)
        log.info("http.retry", attempt=attempt + 1, delay=round(delay, 3), reason=why, **where)
        await self.sleep(delay)


def _guarded_transport(policy: AddressPolicy, limits: httpx.Limits) -> httpx.AsyncHTTPTransport:
    """httpx's transport, its pool dialling through the SSRF guard."""
    transport = httpx.AsyncHTTPTransport(limits=limits)
    # httpx takes no network backend; its pool does. The pool is built as httpx builds it, with the guard.
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=httpx.create_ssl_context(),
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=GuardedBackend(policy),
    )
    return transport


def _path(url: str) -> str:
    """The URL without its query string: queries may carry tokens."""
    return url.split("?", 1)[0]


def rate_limit_wait(resp: httpx.Response, clock: Clock | None = None) -> float | None:
    """Seconds to wait if ``resp`` is a rate limit (429, or 403 with remaining 0), else ``None``."""
    status = resp.status_code
    h = resp.headers
    limited = status == 429 or (status == 403 and (h.get("x-ratelimit-remaining") == "0" or "retry-after" in h))
    if not limited:
        return None
    retry_after = h.get("retry-after")
    if retry_after:
        try:
            return max(0.0, float(retry_after))
        except ValueError:
            parsed = email.utils.parsedate_to_datetime(retry_after)
            if parsed is not None:
                return max(0.0, parsed.timestamp() - time.time())
    reset = h.get("x-ratelimit-reset") or h.get("ratelimit-reset")
    if reset:
        try:
            value = float(reset)
        except ValueError:
            return 1.0
        # X-RateLimit-Reset is an epoch (GitHub); RateLimit-Reset is delta seconds (IETF draft).
        return max(0.0, value - time.time()) if value > 1_000_000_000 else max(0.0, value)
    return 1.0


def provider_message(resp: httpx.Response) -> str:
    """The provider's own words about a failure, as a bounded, sanitised :func:`summary`:
    ``error.message`` (Stripe), ``message`` (GitHub), ``[0].errorCode: [0].message`` (Salesforce), or the body's
    text; never the body verbatim."""
    return summary(_said(resp)) or resp.reason_phrase


def _said(resp: httpx.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return resp.text[:4096]
    if isinstance(body, list) and body and isinstance(body[0], dict) and body[0].get("message"):
        # Salesforce: an array of {message, errorCode, fields}; the first says what went wrong.
        first = body[0]
        code = first.get("errorCode") or first.get("statusCode")
        return f"{code}: {first['message']}" if code else str(first["message"])
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
        if isinstance(err, str) and body.get("error_description"):
            return f"{err}: {body['error_description']}"
        for key in ("message", "error_description", "error", "detail"):
            if body.get(key):
                return str(body[key])
    return resp.text[:4096]


def _error_detail(resp: httpx.Response) -> dict[str, Any]:
    try:
        body = resp.json()
    except ValueError:
        return {}
    if isinstance(body, list) and body and isinstance(body[0], dict):  # Salesforce's error array
        code = body[0].get("errorCode") or body[0].get("statusCode")
        return {"code": summary(code, 100)} if isinstance(code, str) else {}
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, dict):
        return {k: summary(err[k], 100) for k in ("type", "code", "param") if isinstance(err.get(k), str)}
    if isinstance(body, dict) and isinstance(body.get("category"), str):
        # HubSpot: {"status": "error", "category": "VALIDATION_ERROR", "correlationId": ...}; not ``code``,
        # which would replace the error's own stable code.
        detail = {"provider_code": summary(body["category"], 100)}
        if isinstance(body.get("correlationId"), str):
            detail["correlation_id"] = summary(body["correlationId"], 100)
        return detail
    return {}


def error_for(
    resp: httpx.Response,
    *,
    method: str,
    url: str,
    attempts: int = 1,
    wait: float | None = None,
    **where: Any,
) -> ProviderError:
    """The one mapping of a failed provider response to a typed error (messages redacted)."""
    status = resp.status_code
    said = provider_message(resp)
    what = f"{method} {summary(_path(url))}"
    fields: dict[str, Any] = {**where, "provider_status": status, **_error_detail(resp)}
    if wait is not None:
        return ProviderRateLimited(
            f"{what} was rate limited (retry after {wait:.1f}s): {said}", retry_after=round(wait, 3), **fields
        )
    if status in (401, 403):
        return ProviderAuthError(f"the provider refused the credentials ({status}): {said}", **fields)
    if status == 404:
        return ProviderNotFound(f"{what} not found: {said}", **fields)
    if status >= 500:
        return ProviderUnavailable(f"{what} failed with {status} after {attempts} attempt(s): {said}", **fields)
    return ProviderInvalidRequest(said, **fields)


def http_client(hub: Hub) -> HttpClient:
    """The hub's pooled client, created on first use and closed with the hub."""
    return hub.service(HttpClient, lambda: HttpClient(policy=AddressPolicy.from_settings(hub.settings)))


def use_http_client(hub: Hub, client: HttpClient) -> HttpClient:
    """Give ``hub`` this client (tests inject one with a fake clock and sleep); closed with the hub."""
    return hub.provide(HttpClient, client)
