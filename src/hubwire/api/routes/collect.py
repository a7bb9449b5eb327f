"""``POST /v1/collect`` (browser and server events) and ``GET /v1/collect.js`` (the browser script).

    POST /v1/collect?key=pk_...          (or Authorization: Bearer pk_...)
    {"event": "signup", "distinct_id": "u_1", "properties": {"plan": "pro"}, "timestamp": "...", "id": "..."}
    {"batch": [{...}, {...}]}            (or a JSON array)

answers 202 ``{"accepted": n}``: the events are queued for every ``analytics`` Integration that
collects, in one transaction (:func:`hubwire.analytics.record_collected`), and forwarded like the
rest. The key must have the ``collect`` scope (``hubwire apikey create --collect-only``, publishable:
it can do nothing else) or be an admin key. Any body type is read as JSON: ``navigator.sendBeacon``
sends ``text/plain``, which needs no CORS preflight.

Limits: ``HUBWIRE_COLLECT_MAX_EVENTS`` events per request (default 500), 32 KiB per event, the
1 MiB body limit of every route, and ``HUBWIRE_COLLECT_RATE_LIMIT`` events per second per key in
each process (default 200, a burst of one second or one full request; past it a 429 with
Retry-After). CORS: a request from a page (``Origin``) is refused 403 unless its origin is in
``HUBWIRE_COLLECT_ALLOWED_ORIGINS`` (``*`` for any); allowed ones get the CORS headers, preflights
included (:class:`CollectCors`), on every answer, errors too.
"""

from __future__ import annotations

import contextlib
import math
import re
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import msgspec
import pydantic
from fastapi import APIRouter, Request, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hubwire import jsonfast
from hubwire.analytics import AnalyticsEvent, record_collected
from hubwire.api.auth import hub_of, require_collect_key
from hubwire.api.problems import problem
from hubwire.errors import FieldError, RateLimitedError, ValidationError
from hubwire.nouns.schema import parse_datetime
from hubwire.settings import Settings
from hubwire.store.ids import new_id

__all__ = ["PATH", "SCRIPT_PATH", "CollectCors", "CollectLimiter", "public_router", "router"]

PATH = "/v1/collect"
SCRIPT_PATH = "/v1/collect.js"
MAX_EVENT_BYTES = 32 * 1024
MAX_NAME = 200
_ID = re.compile(r"[A-Za-z0-9_\-]{1,64}\Z")

# Each route here checks its collect key first thing (require_collect_key), in its own body rather
# than as a dependency: on this, the busiest route, FastAPI's dependency machinery cost ~30 us of
# each request (bench/collect.py). create_app serves them as the app's own routes, not through an
# included router (see hubwire.api.app).
router = APIRouter(tags=["Analytics"])
public_router = APIRouter(tags=["Analytics"])


class CollectedEvent(pydantic.BaseModel):
    """One collected event, as documented (the route itself checks more: see :func:`parse_events`)."""

    event: str = pydantic.Field(min_length=1, max_length=MAX_NAME)
    distinct_id: str = pydantic.Field(min_length=1, max_length=200)
    properties: dict[str, Any] | None = None
    timestamp: str | None = pydantic.Field(None, description="ISO 8601; default: when received")
    id: str | None = pydantic.Field(None, pattern=r"^[A-Za-z0-9_\-]{1,64}$", description="dedupe id")


class CollectedBatch(pydantic.BaseModel):
    batch: list[CollectedEvent]


_EVENT_SCHEMA = CollectedEvent.model_json_schema()
_COLLECT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        _EVENT_SCHEMA,
                        {
                            "type": "object",
                            "properties": {"batch": {"type": "array", "items": _EVENT_SCHEMA}},
                            "required": ["batch"],
                        },
                        {"type": "array", "items": _EVENT_SCHEMA},
                    ]
                }
            }
        },
    }
}


class JavaScript(Response):
    media_type = "text/javascript"


class _Bucket:
    """A token bucket: ``rate`` tokens a second, holding at most ``burst``."""

    def __init__(self, rate: float, burst: float, clock: Callable[[], float]) -> None:
        self.rate, self.burst, self.clock = rate, burst, clock
        self.tokens, self.at = burst, clock()

    def take(self, n: int) -> float:
        """Take ``n`` tokens: 0.0 when granted, else the seconds until they would be."""
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if n <= self.tokens:
            self.tokens -= n
            return 0.0
        return (n - self.tokens) / self.rate


class CollectLimiter:
    """The per-key rate of collected events in this process (a hub service).

    ``clock``: seconds, monotonic (tests give a frozen one, so that no refill happens between requests).
    """

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = settings.collect_rate_limit
        self.clock = clock
        self.burst = max(self.rate, float(settings.collect_max_events))
        self._buckets: dict[str, _Bucket] = {}

    def take(self, key: str, n: int) -> None:
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) > 10_000:  # bounded: forget the idle ones
                self._buckets.clear()
            bucket = self._buckets[key] = _Bucket(self.rate, self.burst, self.clock)
        wait = bucket.take(n)
        if wait:
            raise RateLimitedError(
                f"more than {self.rate:g} collected events per second with this key; retry later",
                retry_after=math.ceil(wait),
            )


def _timestamp(value: Any, where: str, now: float, errors: list[FieldError]) -> float:
    """Epoch seconds of an event's timestamp: RFC 3339 text is read in C, as the fast path's
    decoder reads it (fractions finer than a microsecond rounded); other ISO 8601 text and numbers
    by :func:`~hubwire.nouns.schema.parse_datetime`, which also says what is wrong."""
    if value is None:
        return now
    if type(value) is str:
        with contextlib.suppress(msgspec.ValidationError):
            value = msgspec.convert(value, datetime)
    if type(value) is datetime and 1 < value.year < 9999:  # the edge years may leave 1..9999 in UTC
        return (value if value.tzinfo is not None else value.replace(tzinfo=UTC)).timestamp()
    dt = parse_datetime(where, value)
    if isinstance(dt, FieldError):
        errors.append(dt)
        return now
    return dt.timestamp()


class _Sent(msgspec.Struct, gc=False):
    """One event as sent, in the shape the checks accept (:func:`read_events`'s fast path)."""

    event: str | None = None
    distinct_id: str | None = None
    properties: dict[str, Any] | None = None
    timestamp: datetime | float | None = None  # RFC 3339 text: other ISO 8601 forms take the checks' way
    id: str | None = None


class _SentBody(_Sent, gc=False):
    """A body that is an object: ``{"batch": [...]}`` or one event."""

    batch: list[_Sent] | msgspec.UnsetType | None = msgspec.UNSET  # null: not a batch (parse_events says so)


_SENT = msgspec.json.Decoder(_SentBody | list[_Sent])
_JSON = msgspec.json.Decoder()  # the same JSON as the fast path's (integers of any size kept exact)


def read_events(raw: bytes, *, now: float, max_events: int, default_id: str | None = None) -> list[AnalyticsEvent]:
    """The events of a collect request's body; ValidationError naming each bad field.

    Two ways to one result. The fast path decodes the body in C (msgspec) into the shape of valid
    events and checks what that shape cannot say (a name of blanks, a malformed id or timestamp).
    Any body it does not take whole (invalid, or over :data:`MAX_EVENT_BYTES`, where each event's
    size must be measured) goes to :func:`parse_events`, which says what is wrong and is the
    definition of what is accepted: a test holds both to the same answers.
    """
    if len(raw) <= MAX_EVENT_BYTES:
        try:
            sent = _SENT.decode(raw)
        except (msgspec.DecodeError, RecursionError):  # not JSON, or not in the shape of valid events
            sent = None
        if sent is not None:
            events = _fast_events(sent, now=now, max_events=max_events, default_id=default_id)
            if events is not None:
                return events
    try:
        body = _JSON.decode(raw) if raw else None
    except (msgspec.DecodeError, RecursionError):
        raise ValidationError.single("body", "invalid_json", "the body must be JSON") from None
    return parse_events(body, now=now, max_events=max_events, default_id=default_id, size=len(raw))


def _fast_events(
    sent: _SentBody | list[_Sent], *, now: float, max_events: int, default_id: str | None
) -> list[AnalyticsEvent] | None:
    """The events of a decoded body, or None when one of them needs :func:`parse_events`' checks."""
    items: list[_Sent] | None
    if isinstance(sent, list):
        items = sent
    elif sent.batch is msgspec.UNSET:
        items = [sent]
    else:
        items = sent.batch
    if not items or len(items) > max_events:
        return None
    out: list[AnalyticsEvent] = []
    errors: list[FieldError] = []
    for item in items:
        name, distinct, eid = item.event, item.distinct_id or default_id, item.id
        if name is None or len(name) > MAX_NAME or not (name := name.strip()):
            return None
        if not distinct or len(distinct) > 200 or (eid is not None and not _ID.match(eid)):
            return None
        when = _timestamp(item.timestamp, "timestamp", now, errors)
        if errors:
            return None
        out.append(
            AnalyticsEvent(
                "col_" + eid if eid is not None else new_id("col"),
                name,
                distinct,
                when,
                item.properties or {},
                "collect",
            )
        )
    return out


def parse_events(
    body: Any, *, now: float, max_events: int, default_id: str | None = None, size: int | None = None
) -> list[AnalyticsEvent]:
    """The events of a collect body (one, ``{"batch": [...]}`` or a list); ValidationError naming each bad field.

    ``size``: the body's length in bytes, when known (no event in a body that small can be too large).
    """
    check_size = size is None or size > MAX_EVENT_BYTES
    if isinstance(body, Mapping) and "batch" in body:
        raw, prefix = body["batch"], "batch"
    elif isinstance(body, list):
        raw, prefix = body, "batch"
    else:
        raw, prefix = [body], ""
    if not isinstance(raw, list) or not raw:
        raise ValidationError.single(
            prefix or "body", "invalid", "send an event object, a list of them or {batch: [...]}"
        )
    if len(raw) > max_events:
        raise ValidationError.single(
            prefix or "body", "too_many", f"{len(raw)} events in one request; at most {max_events} are accepted"
        )
    errors: list[FieldError] = []
    out: list[AnalyticsEvent] = []
    for i, item in enumerate(raw):
        at = f"{prefix}[{i}]." if prefix else ""
        if not isinstance(item, Mapping):
            errors.append(FieldError(at.rstrip(".") or "body", "invalid", "an event must be a JSON object"))
            continue
        name = item.get("event")
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
            errors.append(FieldError(f"{at}event", "invalid", f"event must be a name of 1 to {MAX_NAME} characters"))
        props = item.get("properties") or {}
        if not isinstance(props, Mapping):
            errors.append(FieldError(f"{at}properties", "invalid", "properties must be an object"))
        distinct = item.get("distinct_id") or default_id
        if not isinstance(distinct, str) or not distinct or len(distinct) > 200:
            errors.append(FieldError(f"{at}distinct_id", "required", "distinct_id (1 to 200 characters) is required"))
        eid = item.get("id")
        if eid is not None and (not isinstance(eid, str) or not _ID.match(eid)):
            errors.append(FieldError(f"{at}id", "invalid", "id must be 1 to 64 letters, digits, _ or -"))
        if check_size and len(jsonfast.dumps(item, default=str)) > MAX_EVENT_BYTES:
            errors.append(
                FieldError(at.rstrip(".") or "body", "too_large", f"an event is at most {MAX_EVENT_BYTES} bytes")
            )
        when = _timestamp(item.get("timestamp"), f"{at}timestamp", now, errors)
        if errors:
            continue
        out.append(
            AnalyticsEvent(
                id="col_" + eid if isinstance(eid, str) else new_id("col"),
                name=str(name).strip(),
                distinct_id=str(distinct),
                timestamp=when,
                properties=dict(props) if isinstance(props, Mapping) else {},
                source="collect",
            )
        )
    if errors:
        raise ValidationError("invalid collected events: " + "; ".join(e.message for e in errors[:5]), errors)
    return out


@router.post(
    PATH,
    status_code=202,
    summary="Collect browser or server events (a collect key: ?key= or Bearer)",
    openapi_extra=_COLLECT_BODY,
)
async def collect(request: Request) -> dict[str, Any]:
    key = await require_collect_key(request)
    hub = hub_of(request)
    settings = hub.settings
    events = read_events(await request.body(), now=hub.clock(), max_events=settings.collect_max_events)
    limiter = hub.service(CollectLimiter, lambda: CollectLimiter(settings))
    limiter.take(key.id if key is not None else "anonymous", len(events))
    return {"accepted": await record_collected(hub, events)}


@public_router.get(
    SCRIPT_PATH,
    summary="The browser script: page views and hubwire.track() with sendBeacon",
    response_class=JavaScript,
    responses={200: {"content": {"text/javascript": {"schema": {"type": "string"}}}}},
)
async def collect_js() -> Response:
    script = resources.files("hubwire.analytics").joinpath("collect.js").read_text()
    return JavaScript(
        script,
        headers={"Cache-Control": "public, max-age=300", "Access-Control-Allow-Origin": "*"},
    )


def origin_allowed(settings: Settings, origin: str) -> bool:
    allowed = settings.collect_allowed_origins
    return "*" in allowed or origin.rstrip("/") in {o.rstrip("/") for o in allowed}


class CollectCors:
    """ASGI middleware for ``POST /v1/collect`` only: the allowed origins get CORS headers (preflight
    answered here, before authentication: it carries no key); any other origin is refused 403."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH:
            await self.app(scope, receive, send)
            return
        # ASGI header names are lower case; the first Origin counts (a browser sends one)
        origin = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"origin"), None)
        if origin is None:  # not from a page: a server sending events
            await self.app(scope, receive, send)
            return
        if not origin_allowed(self.settings, origin):
            detail = f"origin {origin} may not send events (HUBWIRE_COLLECT_ALLOWED_ORIGINS)"
            await problem(403, "origin_not_allowed", "Origin not allowed", detail)(scope, receive, send)
            return
        cors = [
            (b"access-control-allow-origin", origin.encode("latin-1")),
            (b"access-control-allow-credentials", b"true"),
            (b"vary", b"Origin"),
        ]
        if scope["method"] == "OPTIONS":
            preflight = [
                *cors,
                (b"access-control-allow-methods", b"POST, OPTIONS"),
                (b"access-control-allow-headers", b"authorization, content-type"),
                (b"access-control-max-age", b"600"),
            ]
            await send({"type": "http.response.start", "status": 204, "headers": preflight})
            await send({"type": "http.response.body", "body": b""})
            return

        async def with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *cors]}
            await send(message)

        await self.app(scope, receive, with_cors)
