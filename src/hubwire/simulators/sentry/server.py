"""A local Sentry ingestion endpoint (aiohttp, loopback, ephemeral port), for error forwarding tests.

Speaks what a Sentry SDK sends to the DSN ``http://{public_key}@{host}/{project_id}``:

- ``POST /api/{project_id}/envelope/``: an envelope, newline-delimited: a JSON header line
  (``event_id``, ``sent_at``, ``dsn``), then items, each a JSON header line (``type``, optional
  ``length`` in bytes, ``content_type``) and its payload (``length`` bytes, or up to the next
  newline without one). Bodies may be gzipped.
- ``POST /api/{project_id}/store/``: the legacy single-event JSON body.

Authenticated as Sentry does: the ``X-Sentry-Auth: Sentry sentry_key=..., sentry_version=7``
header, or ``?sentry_key=`` in the query, or the envelope header's ``dsn``. A missing key is 401, a
key that is not the project's 403, an unknown project 404, a malformed envelope 400, each with
Sentry's ``{"detail": ...}`` body; on request (``fail_next``) 429 with ``Retry-After`` and
``X-Sentry-Rate-Limits`` (which the SDK honours), or a 5xx. Accepted: 200 ``{"id": event_id}``
and the items kept in ``items``. A rejected envelope keeps none of its items. Sentry publishes no
machine-readable description of ingestion; this follows its developer documentation of envelopes.
In-memory only; never contacts Sentry.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from hubwire.simulators.loopback import Fault, LoopbackSimulator, RecordedRequest, json_response

__all__ = ["DEFAULT_PROJECT", "DEFAULT_PUBLIC_KEY", "EnvelopeItem", "SentrySimulator"]

DEFAULT_PROJECT = "4242"
DEFAULT_PUBLIC_KEY = "0123456789abcdef0123456789abcdef"
_PATH = re.compile(r"/api/(?P<project>[^/]+)/(?P<kind>envelope|store)/?\Z")
_AUTH_PAIR = re.compile(r"(\w+)\s*=\s*([^,\s]*)")


class MalformedEnvelope(ValueError):
    pass


@dataclass
class EnvelopeItem:
    """One accepted item: its project, the envelope's header, its own header and payload."""

    project: str
    type: str
    headers: dict[str, Any]
    payload: bytes
    envelope: dict[str, Any] = field(default_factory=dict)

    def json(self) -> Any:
        return json.loads(self.payload)


class SentrySimulator(LoopbackSimulator):
    """``async with SentrySimulator() as sim:`` -> ``sentry_sdk.init(dsn=sim.dsn())``."""

    name = "Sentry"

    def __init__(
        self,
        projects: Mapping[str, str] | None = None,
        *,
        keep_requests: int | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host=host, port=port, keep_requests=keep_requests)
        self.projects = dict(projects or {DEFAULT_PROJECT: DEFAULT_PUBLIC_KEY})  # project id -> public key
        self.items: list[EnvelopeItem] = []

    def dsn(self, project: str = DEFAULT_PROJECT) -> str:
        return f"http://{self.projects[project]}@{self.host}:{self.port}/{project}"

    def events(self) -> list[dict[str, Any]]:
        """The error/message events received (envelope ``event`` items and store bodies), parsed."""
        return [i.json() for i in self.items if i.type == "event"]

    def _fault_response(self, fault: Fault, request: RecordedRequest) -> web.StreamResponse:
        status = fault.status or 500
        if status == 429:
            wait = str(math.ceil(fault.retry_after or 60))
            headers = {"Retry-After": wait, "X-Sentry-Rate-Limits": f"{wait}::organization"}
            return json_response(429, {"detail": "event submission rejected with_reason: too many requests"}, headers)
        return json_response(status, {"detail": "internal server error"})

    def _not_found(self, request: RecordedRequest) -> web.StreamResponse:
        return json_response(404, {"detail": "not found"})

    def _kept(self) -> tuple[list[Any] | dict[Any, Any], ...]:
        return (self.items,)

    def _add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/api/{project}/envelope/", self._respond_to)
        router.add_post("/api/{project}/store/", self._respond_to)

    async def _respond(self, request: RecordedRequest) -> web.StreamResponse:
        match = _PATH.match(request.path)
        if match is None:
            return self._not_found(request)
        project, kind = match["project"], match["kind"]
        try:
            if kind == "envelope":
                envelope, items = parse_envelope(request.body)
            else:
                event = json.loads(request.body)
                if not isinstance(event, dict):
                    raise MalformedEnvelope("the event is not a JSON object")
                envelope, items = {"event_id": event.get("event_id")}, [({"type": "event"}, request.body)]
        except (MalformedEnvelope, ValueError) as exc:
            return json_response(400, {"detail": f"invalid {kind}: {exc}"})
        key = _public_key(request, envelope)
        if project not in self.projects:
            return json_response(404, {"detail": f"unknown project {project}"})
        if not key:
            return json_response(401, {"detail": "missing authorization information"})
        if key != self.projects[project]:
            return json_response(403, {"detail": "event submission rejected with_reason: ProjectId"})
        self.items.extend(EnvelopeItem(project, str(h.get("type")), h, p, envelope) for h, p in items)
        return json_response(200, {"id": envelope.get("event_id")})


def parse_envelope(body: bytes) -> tuple[dict[str, Any], list[tuple[dict[str, Any], bytes]]]:
    """An envelope's header and its (item header, payload) pairs; MalformedEnvelope if it is not one."""
    header_line, _, rest = body.partition(b"\n")
    header = _json_object(header_line, "envelope header")
    items: list[tuple[dict[str, Any], bytes]] = []
    while rest.strip():
        line, _, rest = rest.partition(b"\n")
        if not line.strip():
            continue
        item = _json_object(line, "item header")
        if not isinstance(item.get("type"), str):
            raise MalformedEnvelope("an item header has no type")
        length = item.get("length")
        if length is None:
            payload, _, rest = rest.partition(b"\n")
        else:
            if isinstance(length, bool) or not isinstance(length, int) or length < 0 or length > len(rest):
                raise MalformedEnvelope(f"item length {length!r} does not fit the envelope")
            payload, rest = rest[:length], rest[length:]
            if rest[:1] == b"\n":
                rest = rest[1:]
        items.append((item, payload))
    if not items:
        raise MalformedEnvelope("the envelope has no items")
    return header, items


def _json_object(line: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(line)
    except ValueError:
        raise MalformedEnvelope(f"the {what} is not JSON") from None
    if not isinstance(value, dict):
        raise MalformedEnvelope(f"the {what} is not an object")
    return value


def _public_key(request: RecordedRequest, envelope: Mapping[str, Any]) -> str | None:
    auth = request.headers.get("X-Sentry-Auth") or ""
    if auth.lower().startswith("sentry "):
        pairs = dict(_AUTH_PAIR.findall(auth[len("sentry ") :]))
        if pairs.get("sentry_key"):
            return pairs["sentry_key"]
    if request.param("sentry_key"):
        return request.param("sentry_key")
    dsn = envelope.get("dsn")
    if isinstance(dsn, str) and "://" in dsn and "@" in dsn:
        return dsn.split("://", 1)[1].split("@", 1)[0].split(":", 1)[0] or None
    return None
