"""A local PostHog capture API (aiohttp, loopback, ephemeral port) for tests and analytics forwarding.

Speaks the wire format of PostHog's event ingestion: ``POST /batch/`` with ``{"api_key", "batch":
[{event, properties: {distinct_id, ...}, timestamp, uuid}]}`` and the single-event endpoints
``/capture/`` and ``/i/v0/e/`` (one event at the top level, or a ``batch``), bodies optionally
gzipped (``Content-Encoding: gzip``). Answers 200 ``{"status": 1}``; 401 for a missing or unknown
project key and 400 for a malformed body, both in PostHog's error shape ``{"type", "code",
"detail"}``; on request (``fail_next``) 429 with ``Retry-After`` or a 5xx. A rejected request keeps
none of its events: PostHog takes a batch whole or not at all.

PostHog publishes no OpenAPI description of capture, so nothing is checked against one. Accepted
events are kept in ``events``. In-memory only; never contacts the real PostHog.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from hubwire.simulators.loopback import MALFORMED, Fault, LoopbackSimulator, RecordedRequest, json_response

__all__ = ["DEFAULT_PROJECT_KEY", "CapturedEvent", "PostHogSimulator"]

DEFAULT_PROJECT_KEY = "phc_hubwireTestProjectKey000000000000000000"
ENDPOINTS = ("/batch/", "/capture/", "/i/v0/e/")


@dataclass
class CapturedEvent:
    """One accepted event: the project key it came with and its fields as sent."""

    project_key: str
    event: str
    distinct_id: str
    properties: dict[str, Any] = field(default_factory=dict)
    timestamp: str | None = None
    uuid: str | None = None


class PostHogSimulator(LoopbackSimulator):
    """``async with PostHogSimulator() as sim:`` -> ``sim.url`` is a PostHog host for the official client."""

    name = "PostHog"

    def __init__(
        self,
        project_keys: Iterable[str] = (DEFAULT_PROJECT_KEY,),
        *,
        keep_requests: int | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host=host, port=port, keep_requests=keep_requests)
        self.project_keys = set(project_keys)
        self.events: list[CapturedEvent] = []

    def _kept(self) -> tuple[list[Any] | dict[Any, Any], ...]:
        return (self.events,)

    def _add_routes(self, router: web.UrlDispatcher) -> None:
        for path in ENDPOINTS:
            router.add_post(path, self._respond_to)
            router.add_post(path.rstrip("/"), self._respond_to)  # PostHog takes both spellings

    def _fault_response(self, fault: Fault, request: RecordedRequest) -> web.StreamResponse:
        status = fault.status or 500
        if status == 429:
            headers = {"Retry-After": str(math.ceil(fault.retry_after or 1))}
            return _error(429, "rate_limited", "rate_limited", "Rate limit exceeded", headers)
        return _error(status, "server_error", "server_error", "Internal server error")

    def _not_found(self, request: RecordedRequest) -> web.StreamResponse:
        return _error(404, "invalid_request", "not_found", "Not found")

    async def _respond(self, request: RecordedRequest) -> web.StreamResponse:
        try:
            body = json.loads(request.body)  # aiohttp has already undone Content-Encoding: gzip
            if not isinstance(body, dict):
                raise TypeError("the body is not a JSON object")
            raw_events = body.get("batch", [body])
            key = body.get("api_key") or body.get("token") or _bearer(request.headers.get("Authorization", ""))
            if not key:
                return _error(401, "authentication_error", "invalid_api_key", "API key is required")
            if key not in self.project_keys:
                return _error(
                    401,
                    "authentication_error",
                    "invalid_api_key",
                    "Project API key invalid. You can find your project API key in PostHog project settings.",
                )
            events = [_event(str(key), raw) for raw in raw_events]
        except MALFORMED as exc:
            return _error(400, "validation_error", "invalid_payload", f"Malformed request data: {exc}")
        if not events:
            return _error(400, "validation_error", "no_data", "No data found. Make sure to use a POST request.")
        self.events.extend(events)
        return json_response(200, {"status": 1})


def _event(key: str, raw: Any) -> CapturedEvent:
    """One event of a request, or ValueError/TypeError/KeyError for one PostHog would refuse."""
    if not isinstance(raw, dict):
        raise TypeError("an event is not a JSON object")
    name = raw["event"]
    properties = raw.get("properties") or {}
    if not isinstance(properties, dict):
        raise TypeError(f"event {name!r}: properties is not an object")
    # PostHog folds a top-level ``$set``/``$set_once`` (person properties) into the event's properties.
    properties = {**properties, **{k: raw[k] for k in ("$set", "$set_once") if k in raw}}
    distinct_id = raw.get("distinct_id", properties.get("distinct_id"))
    if not isinstance(name, str) or not name:
        raise ValueError("an event has no name")
    if distinct_id is None or str(distinct_id) == "":
        raise ValueError(f"event {name!r} has no distinct_id")
    return CapturedEvent(key, name, str(distinct_id), properties, raw.get("timestamp"), raw.get("uuid"))


def _bearer(header: str) -> str | None:
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _error(
    status: int, kind: str, code: str, detail: str, headers: Mapping[str, str] | None = None
) -> web.StreamResponse:
    """PostHog's error body."""
    return json_response(status, {"type": kind, "code": code, "detail": detail, "attr": None}, dict(headers or {}))
