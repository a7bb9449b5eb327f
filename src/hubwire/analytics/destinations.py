"""Analytics destinations: what each one needs to connect, and each one's wire format for a batch.

A destination turns a batch of normalised events (:class:`AnalyticsEvent`) into the HTTP requests
its ingestion API takes:

    ga        GA4 Measurement Protocol: POST {host}/mp/collect?measurement_id=&api_secret=, one
              request per client_id, at most 25 events each; names and params made GA4-safe
    posthog   POST {host}/batch/ {"api_key", "batch": [{event, properties.distinct_id, timestamp, uuid}]}
    sentry    error events only: one envelope per event to the DSN's ingest URL
              ({scheme}://{host}/api/{project}/envelope/, X-Sentry-Auth with the DSN's key)
    mixpanel  POST {host}/import?strict=1, basic auth with the project's API secret (or a service
              account with project_id), events with time, distinct_id and $insert_id
    segment   POST {host}/v1/batch, basic auth with the write key, track messages

Pure: no I/O. The credentials of every destination are secrets of the Integration (encrypted).
"""

from __future__ import annotations

import base64
import hashlib
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import msgspec

from hubwire import jsonfast
from hubwire.errors import FieldError
from hubwire.store.events import iso

__all__ = [
    "DESTINATIONS",
    "AnalyticsEvent",
    "Destination",
    "Request",
    "events_json",
    "events_of",
    "is_error_event",
    "joined_events_json",
]


class AnalyticsEvent(msgspec.Struct, frozen=True, gc=False):
    """One event to forward, the same for every destination: a Hubwire event or a collected one.

    A msgspec Struct: a collect request makes one per event and the outbox stores and reads them
    as JSON arrays (:func:`events_json`, :func:`events_of`), each one C call for the whole array.
    Untracked by the garbage collector (``gc=False``): it holds JSON values, which cannot refer back to it.
    """

    id: str  # stable: the event log's id, or the collected event's (dedupe key at the destinations)
    name: str
    distinct_id: str
    timestamp: float  # epoch seconds
    properties: dict[str, Any] = {}
    source: str = "hubwire"  # hubwire (the event log) | collect (POST /v1/collect)


_EVENTS = msgspec.json.Decoder(list[AnalyticsEvent])
_ENCODER = msgspec.json.Encoder(enc_hook=str)  # what JSON has no form for is written as its text


def events_json(events: Sequence[AnalyticsEvent]) -> str:
    """Events as one JSON array (an outbox row's ``events``)."""
    return _ENCODER.encode(events).decode()


def joined_events_json(arrays: Sequence[str]) -> str:
    """The JSON arrays of :func:`events_json` as one: the events of each, in order."""
    return "[" + ",".join(a[1:-1] for a in arrays if a != "[]") + "]"


def events_of(text: str | bytes) -> list[AnalyticsEvent]:
    """The events of a JSON array written by :func:`events_json`."""
    return _EVENTS.decode(text)


@dataclass(frozen=True)
class Request:
    """One HTTP request of a batch (every request of a batch must succeed for the batch to)."""

    url: str
    params: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    json: Any = None
    content: bytes | None = None


_ERROR_NAMES = frozenset({"$exception", "error", "exception"})


def is_error_event(event: AnalyticsEvent) -> bool:
    """What Sentry receives: collected ``error``/``$exception`` events, and ``*.Errored``/``*.Failed`` ones."""
    return event.name in _ERROR_NAMES or event.name.endswith((".Errored", ".Failed"))


@dataclass(frozen=True)
class Destination:
    """An analytics service: its credentials, the URLs they send to, and its wire format."""

    name: str
    title: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    default_host: str | None
    build: Callable[[Mapping[str, str], Sequence[AnalyticsEvent]], list[Request]]
    accepts: Callable[[AnalyticsEvent], bool] | None = None  # the events it takes (None: all)
    batch_limit: int = 100  # events per request at most (a larger batch is sent as several requests)

    def taken(self, events: Sequence[AnalyticsEvent]) -> Sequence[AnalyticsEvent]:
        """Those of ``events`` this destination takes."""
        accepts = self.accepts
        return events if accepts is None else [e for e in events if accepts(e)]

    def check(self, conf: Any, where: str) -> list[FieldError]:
        """The form of one destination's settings: required keys present, nothing unknown, strings."""
        if not isinstance(conf, Mapping):
            return [FieldError(where, "invalid", f"{where} must be an object with {', '.join(self.required)}")]
        errors = [
            FieldError(f"{where}.{k}", "required", f"{self.title} needs {k}")
            for k in self.required
            if not isinstance(conf.get(k), str) or not conf.get(k)
        ]
        known = {*self.required, *self.optional}
        errors += [
            FieldError(
                f"{where}.{k}", "unknown_parameter", f"{self.title} does not take {k!r} (accepted: {sorted(known)})"
            )
            for k in conf
            if k not in known
        ]
        errors += [
            FieldError(f"{where}.{k}", "invalid", f"{where}.{k} must be a string")
            for k in self.optional
            if k in conf and not isinstance(conf[k], str)
        ]
        if not errors and self.name == "sentry":
            try:
                _dsn(str(conf["dsn"]))
            except ValueError as exc:
                errors.append(FieldError(f"{where}.dsn", "invalid", str(exc)))
        return errors

    def urls(self, conf: Mapping[str, str]) -> list[str]:
        """Where this destination sends: each checked by the SSRF guard at connect."""
        if self.name == "sentry":
            return [_dsn(conf["dsn"])[0]]
        return [_host(conf, self)]


def _host(conf: Mapping[str, str], dest: Destination) -> str:
    return str(conf.get("host") or dest.default_host or "").rstrip("/")


def _dsn(dsn: str) -> tuple[str, str, str]:
    """(envelope URL, public key, project) of a Sentry DSN ``{scheme}://{key}@{host}/{project}``."""
    parts = urlsplit(dsn)
    project = parts.path.strip("/").rsplit("/", 1)[-1]
    if parts.scheme not in ("http", "https") or not parts.username or not parts.hostname or not project:
        raise ValueError("a Sentry DSN looks like https://<public key>@<host>/<project id>")
    host = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
    prefix = parts.path.strip("/").rsplit("/", 1)[0] if "/" in parts.path.strip("/") else ""
    base = f"{parts.scheme}://{host}" + (f"/{prefix}" if prefix else "")
    return f"{base}/api/{project}/envelope/", parts.username, project


# GA4 --------------------------------------------------------------------------------------

_GA_NAME = re.compile(r"[^A-Za-z0-9_]")
_GA_RESERVED_PREFIXES = ("google_", "ga_", "firebase_")
_GA_MAX_EVENTS = 25
_GA_MAX_PARAMS = 25


def _ga_name(name: str, limit: int = 40) -> str:
    """A GA4-safe name: letters, digits and underscores, a letter first, no reserved prefix."""
    safe = _GA_NAME.sub("_", name).strip("_") or "event"
    if not safe[0].isalpha() or safe.lower().startswith(_GA_RESERVED_PREFIXES):
        safe = "hw_" + safe
    return safe[:limit]


def _ga_params(props: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in props.items():
        if len(out) >= _GA_MAX_PARAMS:
            break
        if isinstance(value, bool):
            value = int(value)
        elif isinstance(value, str):
            value = value[:100]
        elif not isinstance(value, int | float):
            continue  # GA4 params are scalars: objects and lists are not sent
        out[_ga_name(key)] = value
    return out


def _ga(conf: Mapping[str, str], events: Sequence[AnalyticsEvent]) -> list[Request]:
    url = _host(conf, GA) + "/mp/collect"
    params = {"measurement_id": conf["measurement_id"], "api_secret": conf["api_secret"]}
    by_client: dict[str, list[AnalyticsEvent]] = {}
    for e in events:
        by_client.setdefault(e.distinct_id, []).append(e)
    out = []
    for client_id, evs in by_client.items():
        for i in range(0, len(evs), _GA_MAX_EVENTS):
            chunk = evs[i : i + _GA_MAX_EVENTS]
            body = {
                "client_id": client_id,
                "timestamp_micros": int(chunk[0].timestamp * 1_000_000),
                "events": [{"name": _ga_name(e.name), "params": _ga_params(e.properties)} for e in chunk],
            }
            out.append(Request(url, params=params, json=body))
    return out


# PostHog ----------------------------------------------------------------------------------


_NAMESPACE = uuid.NAMESPACE_URL.bytes


def _uuid_hex(event_id: str) -> str:
    """A UUID derived from the event id, as 32 hex digits: the same on every retry, so the
    destination dedupes. It is ``uuid.uuid5(NAMESPACE_URL, "hubwire:" + event_id)``, computed
    without the UUID objects (they were most of the time a batch took to build)."""
    digest = bytearray(hashlib.sha1(_NAMESPACE + b"hubwire:" + event_id.encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # the RFC 4122 variant
    return digest.hex()


def _uuid(event_id: str) -> str:
    """:func:`_uuid_hex` in the usual form, with its dashes."""
    h = _uuid_hex(event_id)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _posthog(conf: Mapping[str, str], events: Sequence[AnalyticsEvent]) -> list[Request]:
    batch = [
        {
            "event": e.name,
            "properties": {**e.properties, "distinct_id": e.distinct_id, "$lib": "hubwire"},
            "timestamp": iso(e.timestamp),
            "uuid": _uuid(e.id),
        }
        for e in events
    ]
    return [Request(_host(conf, POSTHOG) + "/batch/", json={"api_key": conf["api_key"], "batch": batch})]


# Sentry -----------------------------------------------------------------------------------


def _sentry(conf: Mapping[str, str], events: Sequence[AnalyticsEvent]) -> list[Request]:
    url, key, _project = _dsn(conf["dsn"])
    auth = f"Sentry sentry_version=7, sentry_key={key}, sentry_client=hubwire/1"
    out = []
    for e in events:
        event_id = _uuid_hex(e.id)
        message = e.properties.get("message")
        payload = jsonfast.dumps(
            {
                "event_id": event_id,
                "timestamp": e.timestamp,
                "platform": "other",
                "level": "error",
                "logger": "hubwire",
                "message": {"formatted": str(message) if message else e.name},
                "tags": {"event": e.name, "source": e.source},
                "user": {"id": e.distinct_id},
                "extra": e.properties,
            },
            default=str,
        ).encode()
        header = jsonfast.dumps({"event_id": event_id, "sent_at": iso(e.timestamp)}).encode()
        item = jsonfast.dumps({"type": "event", "length": len(payload), "content_type": "application/json"}).encode()
        body = header + b"\n" + item + b"\n" + payload + b"\n"
        headers = {"X-Sentry-Auth": auth, "Content-Type": "application/x-sentry-envelope"}
        out.append(Request(url, headers=headers, content=body))
    return out


# Mixpanel ---------------------------------------------------------------------------------


def _basic(user: str, password: str = "") -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _mixpanel(conf: Mapping[str, str], events: Sequence[AnalyticsEvent]) -> list[Request]:
    params = {"strict": "1"}
    if conf.get("service_account_username"):
        auth = _basic(conf["service_account_username"], conf.get("service_account_secret", ""))
        params["project_id"] = conf.get("project_id", "")
    else:
        auth = _basic(conf["api_secret"])
        if conf.get("project_id"):
            params["project_id"] = conf["project_id"]
    body = [
        {
            "event": e.name,
            "properties": {
                **e.properties,
                "time": int(e.timestamp * 1000),
                "distinct_id": e.distinct_id,
                "$insert_id": _uuid_hex(e.id),
            },
        }
        for e in events
    ]
    return [Request(_host(conf, MIXPANEL) + "/import", params=params, headers={"Authorization": auth}, json=body)]


# Segment ----------------------------------------------------------------------------------


_SEGMENT_CONTEXT = {"library": {"name": "hubwire", "version": "1"}}  # the same for every message (only read)


def _segment(conf: Mapping[str, str], events: Sequence[AnalyticsEvent]) -> list[Request]:
    batch = [
        {
            "type": "track",
            "event": e.name,
            "anonymousId": e.distinct_id,
            "properties": e.properties,
            "timestamp": iso(e.timestamp),
            "messageId": _uuid(e.id),
            "context": _SEGMENT_CONTEXT,
        }
        for e in events
    ]
    return [
        Request(
            _host(conf, SEGMENT) + "/v1/batch",
            headers={"Authorization": _basic(conf["write_key"])},
            json={"batch": batch},
        )
    ]


GA = Destination(
    "ga", "Google Analytics 4", ("measurement_id", "api_secret"), ("host",), "https://www.google-analytics.com", _ga
)
# PostHog's /batch/ takes a body up to 20 MB; Mixpanel's /import 2,000 events a request.
POSTHOG = Destination(
    "posthog", "PostHog", ("api_key",), ("host",), "https://us.i.posthog.com", _posthog, batch_limit=1000
)
SENTRY = Destination("sentry", "Sentry", ("dsn",), (), None, _sentry, accepts=is_error_event, batch_limit=20)
MIXPANEL = Destination(
    "mixpanel",
    "Mixpanel",
    (),
    ("api_secret", "project_id", "service_account_username", "service_account_secret", "host"),
    "https://api.mixpanel.com",
    _mixpanel,
    batch_limit=2000,
)
SEGMENT = Destination("segment", "Segment", ("write_key",), ("host",), "https://api.segment.io", _segment)

DESTINATIONS: Mapping[str, Destination] = {d.name: d for d in (GA, POSTHOG, SENTRY, MIXPANEL, SEGMENT)}
