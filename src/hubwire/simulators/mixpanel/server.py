"""A local Mixpanel ingestion API (aiohttp, loopback, ephemeral port) for tests and analytics forwarding.

``POST /import`` takes a JSON array, newline-delimited JSON (``application/x-ndjson``) or the form
field ``data`` the official clients send, gzipped or not; it authenticates with HTTP basic auth, a
service account (``username:secret``, with ``project_id`` in the query) or the project secret
(``secret:``), and answers as Mixpanel's description says: 200 ``{"code": 200,
"num_records_imported": n, "status": "OK"}``, 400 with ``failed_records`` (``strict=1``, the default:
the valid records are still imported), 401 ``Invalid credentials``, 413 over the size limit (2 MiB)
and, on request (``fail_next``), 429 with ``Retry-After``. A form request, the official clients' legacy
format, gets ``"status": 1`` on success, which is what those clients check. ``POST /track`` takes
the same bodies with the project ``token`` in each event's properties and answers ``1``/``0`` (or
``{"status", "error"}`` with ``verbose=1``), 401 for an unknown token.

Every request is checked against Mixpanel's OpenAPI description when the specs folder is present
(:mod:`hubwire.simulators.mixpanel.spec`): a mismatch is recorded in ``mismatches`` and answered 400
with ``MISMATCH`` in the error. Accepted events are kept in ``events``. In-memory only; never
contacts the real Mixpanel.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from hubwire.simulators.loopback import MALFORMED, Fault, LoopbackSimulator, RecordedRequest, json_response
from hubwire.simulators.mixpanel.spec import MixpanelSpec, mixpanel_spec

__all__ = [
    "DEFAULT_API_SECRET",
    "DEFAULT_PROJECT_ID",
    "DEFAULT_SERVICE_ACCOUNT",
    "DEFAULT_TOKEN",
    "MISMATCH",
    "MixpanelSimulator",
    "TrackedEvent",
]

DEFAULT_TOKEN = "hubwire0test0mixpanel0project0token"
DEFAULT_PROJECT_ID = "1234567"
DEFAULT_API_SECRET = "hubwire0test0mixpanel0api0secret"
DEFAULT_SERVICE_ACCOUNT = ("hubwire-test.0000.mp-service-account", "hubwire-test-service-account-secret")
MISMATCH = "Hubwire Mixpanel simulator: request does not match Mixpanel's OpenAPI description"
MAX_BYTES = 2 * 1024 * 1024  # Mixpanel's limit per request: "request exceeds max limit of 2097152 bytes"
# Mixpanel's rule for $insert_id: at most 36 letters, digits or dashes.
_INSERT_ID = re.compile(r"[A-Za-z0-9-]{1,36}")
_REASONS = {400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 413: "Request Entity Too Large"}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class TrackedEvent:
    """One accepted event: the endpoint it came through (``import`` or ``track``), its name and properties."""

    endpoint: str
    event: str
    properties: dict[str, Any]


@dataclass
class _Body:
    """A request body read into Mixpanel's array of events; ``form`` holds the other form fields."""

    events: Any
    form: dict[str, str]

    @property
    def legacy(self) -> bool:
        return "data" in self.form


class MixpanelSimulator(LoopbackSimulator):
    """``async with MixpanelSimulator() as sim:`` -> ``sim.url`` serves Mixpanel's ``/import`` and ``/track``."""

    name = "Mixpanel"

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        project_id: str = DEFAULT_PROJECT_ID,
        api_secrets: Iterable[str] = (DEFAULT_API_SECRET,),
        service_accounts: Mapping[str, str] | None = None,
        specs_dir: Path | None = None,
        check_spec: bool = True,
        max_bytes: int = MAX_BYTES,
        keep_requests: int | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host=host, port=port, keep_requests=keep_requests)
        self.token, self.project_id = token, project_id
        self.api_secrets = set(api_secrets)
        self.service_accounts = dict(service_accounts if service_accounts is not None else [DEFAULT_SERVICE_ACCOUNT])
        self.spec: MixpanelSpec | None = mixpanel_spec(specs_dir) if check_spec else None
        # A body beyond Mixpanel's limit is refused 413 unread.
        self.max_bytes = self.max_body = max_bytes
        self.events: list[TrackedEvent] = []

    def _kept(self) -> tuple[list[Any] | dict[Any, Any], ...]:
        return (self.events,)

    def _add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/import", self._import)
        router.add_post("/track", self._track)

    # internals --------------------------------------------------------------------------
    def _fault_response(self, fault: Fault, request: RecordedRequest) -> web.StreamResponse:
        status = fault.status or 500
        if status == 429:
            headers = {"Retry-After": str(math.ceil(fault.retry_after or 1))}
            message = "Project exceeded rate limits. Please retry the request with exponential backoff."
            return _strict(429, message, "Too Many Requests", headers=headers)
        return _strict(status, "Internal server error", "Internal Server Error")

    def _not_found(self, request: RecordedRequest) -> web.StreamResponse:
        return _strict(404, "not found")

    async def _dispatch(self, request: web.Request, handler: Handler, recorded: RecordedRequest) -> web.StreamResponse:
        if (request.content_length or 0) > self.max_bytes or len(recorded.body) > self.max_bytes:
            return _strict(413, f"request exceeds max limit of {self.max_bytes} bytes")
        return await handler(request)

    def _mismatch(self, request: web.Request, events: Any) -> web.Response | None:
        """The distinctive 400 for a request that breaks the description (recorded in ``mismatches``), or None."""
        if self.spec is None:
            return None
        check = self.spec.check_request(
            request.method, request.path, list(request.query.items()), request.headers, events
        )
        if check.ok:
            return None
        found = [f"{request.method} {request.path}: {p}" for p in check.problems]
        self.mismatches.extend(found)
        return _strict(400, f"{MISMATCH}: {'; '.join(check.problems)}", mismatches=found)

    def _import_refusal(self, request: web.Request) -> web.Response | None:
        """401 unless a service account (for this project) or the project secret signs the request."""
        credentials = _basic(request.headers.get("Authorization", ""))
        project = request.query.get("project_id")
        if credentials is None:
            return _strict(401, "Invalid credentials")
        user, secret = credentials
        if user in self.service_accounts and self.service_accounts[user] == secret:
            if project is None:
                return _strict(400, "project_id is required when authenticating with a service account")
            return None if project == self.project_id else _strict(401, "Invalid credentials")
        if user in self.api_secrets and not secret and project in (None, self.project_id):
            return None
        return _strict(401, "Invalid credentials")

    async def _import(self, request: web.Request) -> web.Response:
        refusal = self._import_refusal(request)
        if refusal is not None:
            return refusal
        strict = request.query.get("strict", "1")
        if strict not in ("0", "1"):
            return _strict(400, f"strict must be 0 or 1, got {strict!r}")
        try:
            body = _read(request.content_type, await request.read())
        except MALFORMED as exc:
            return _strict(400, f"unable to parse the request body: {exc}")
        mismatch = self._mismatch(request, body.events)
        if mismatch is not None:
            return mismatch
        if not isinstance(body.events, list) or not body.events:
            return _strict(400, "the body must be a non-empty array of events")
        accepted: list[TrackedEvent] = []
        failed: list[dict[str, Any]] = []
        for index, raw in enumerate(body.events):
            problem = _import_problem(raw)
            if problem is None:
                accepted.append(TrackedEvent("import", raw["event"], raw["properties"]))
            else:
                properties = raw.get("properties") if isinstance(raw, dict) else None
                insert_id = properties.get("$insert_id") if isinstance(properties, dict) else None
                field, message = problem
                failed.append({"index": index, "insert_id": str(insert_id or ""), "field": field, "message": message})
        self.events.extend(accepted)
        if failed and strict == "1":
            return _strict(
                400,
                "some data points in the request failed validation",
                num_records_imported=len(accepted),
                failed_records=failed,
            )
        if body.legacy:  # the official clients' format: they check for ``"status": 1``
            return json_response(200, {"code": 200, "num_records_imported": len(accepted), "status": 1})
        return json_response(200, {"code": 200, "num_records_imported": len(accepted), "status": "OK"})

    async def _track(self, request: web.Request) -> web.Response:
        try:
            body = _read(request.content_type, await request.read())
        except MALFORMED as exc:
            return _tracked(request.query.get("verbose") == "1", f"unable to parse the request body: {exc}")
        verbose = "1" in (request.query.get("verbose"), body.form.get("verbose"))
        mismatch = self._mismatch(request, body.events)
        if mismatch is not None:
            return mismatch
        events = body.events if isinstance(body.events, list) else []
        valid = [e for e in events if _track_problem(e) is None]
        if any(e["properties"].get("token") != self.token for e in valid):
            return json_response(401, {"error": "Invalid project token", "status": "error"})
        if not valid:
            problems = [_track_problem(e) for e in events] or ["no events in the request"]
            return _tracked(verbose, f"data, no valid events: {problems[0]}")
        self.events.extend(TrackedEvent("track", e["event"], e["properties"]) for e in valid)
        return _tracked(verbose, None)


def _read(content_type: str, raw: bytes) -> _Body:
    """A request body as Mixpanel's array of events: JSON, newline-delimited JSON, or a form's ``data``
    field (JSON, or base64 of JSON) holding one event or an array."""
    if content_type == "application/x-www-form-urlencoded":
        form = dict(parse_qsl(raw.decode(), keep_blank_values=True))
        data = form["data"]
        try:
            parsed = json.loads(data)
        except ValueError:
            try:
                parsed = json.loads(base64.b64decode(data, validate=True))
            except binascii.Error as exc:
                raise ValueError("data is neither JSON nor base64 of JSON") from exc
        return _Body(parsed if isinstance(parsed, list) else [parsed], form)
    if content_type == "application/x-ndjson":
        return _Body([json.loads(line) for line in raw.decode().splitlines() if line.strip()], {})
    return _Body(json.loads(raw), {})


def _import_problem(raw: Any) -> tuple[str, str] | None:
    """Mixpanel's own verdict on one imported record (field, message), for what the description cannot say."""
    if not isinstance(raw, dict) or not isinstance(raw.get("properties"), dict):
        return "properties", "'properties' must be an object"
    properties = raw["properties"]
    if not isinstance(raw.get("event"), str) or not raw["event"]:
        return "event", "'event' must be a non-empty string"
    when = properties.get("time")
    if not isinstance(when, int | float) or isinstance(when, bool) or when <= 0:
        return "properties.time", "'properties.time' is invalid: must be specified as seconds since epoch"
    if not isinstance(properties.get("distinct_id"), str):
        return "properties.distinct_id", "'properties.distinct_id' must be specified as a string"
    insert_id = properties.get("$insert_id")
    if not isinstance(insert_id, str) or not _INSERT_ID.fullmatch(insert_id):
        return (
            "properties.$insert_id",
            "'properties.$insert_id' is invalid: must be 36 or fewer letters, digits or dashes",
        )
    return None


def _track_problem(raw: Any) -> str | None:
    if not isinstance(raw, dict) or not isinstance(raw.get("properties"), dict):
        return "'properties' must be an object"
    if not isinstance(raw.get("event"), str) or not raw["event"]:
        return "'event' must be a non-empty string"
    return None


def _tracked(verbose: bool, error: str | None) -> web.Response:
    """``/track``'s answer: 1 or 0 as text, or with ``verbose=1`` the object the official clients read."""
    if verbose:
        return json_response(200, {"status": 0 if error else 1, "error": error})
    return web.Response(status=200, text="0" if error else "1", content_type="text/plain")


def _basic(header: str) -> tuple[str, str] | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value.strip():
        return None
    try:
        user, sep, secret = base64.b64decode(value.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, secret) if sep else None


def _strict(
    status: int,
    error: str,
    reason: str | None = None,
    *,
    headers: Mapping[str, str] | None = None,
    mismatches: list[str] | None = None,
    **extra: Any,
) -> web.Response:
    """The error body of Mixpanel's ``/import`` (``code``, ``error``, ``status``); a spec mismatch adds the
    simulator's own ``mismatches`` list."""
    body: dict[str, Any] = {"code": status, "error": error, "status": reason or _REASONS.get(status, "Error"), **extra}
    if mismatches:
        body["mismatches"] = mismatches
    return json_response(status, body, dict(headers or {}))
