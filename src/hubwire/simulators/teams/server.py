"""A local Microsoft Teams incoming webhook and Workflows webhook (aiohttp, loopback, ephemeral port)
for tests and ``hubwire simulate teams``.

Receives what Hubwire sends to a Teams channel: ``{"type": "message", "attachments": [{"contentType":
"application/vnd.microsoft.card.adaptive", "content": <card>}]}``. An incoming webhook
(``/webhookb2/.../IncomingWebhook/...``) answers as Teams does: 200 with the body ``1``, 400 ``Bad
payload received by generic incoming webhook.`` for a body that is not JSON, 404 for an unknown
webhook, 413 over Teams' 28 KB message limit, and with ``rate_limits=True`` 429 beyond 4 messages a
second per webhook. A Workflows (Power Automate) webhook (``/workflows/.../triggers/manual/paths/
invoke?...&sig=...``) answers 202 with an empty body, 401 for a wrong ``sig``.

Every message is checked when the specs folder is present (:mod:`hubwire.simulators.teams.spec`:
the envelope by hand, each card against the Adaptive Cards 1.5 schema): a mismatch is recorded in
``mismatches`` and answered 400 with ``MISMATCH``. It also records every request and injects
faults (``fail_next``, ``slow_next``). Accepted cards are kept per webhook in ``messages``.
In-memory only; never contacts Microsoft.
"""

from __future__ import annotations

import asyncio
import json
import math
import secrets
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from hubwire.simulators.teams.spec import TeamsSpec, check_envelope, teams_spec

__all__ = ["MAX_BYTES", "MISMATCH", "RATE_LIMIT", "RecordedRequest", "TeamsSimulator"]

MISMATCH = "Hubwire Teams simulator: message is not a valid Teams Adaptive Card message"
BAD_PAYLOAD = "Bad payload received by generic incoming webhook."
MAX_BYTES = 28 * 1024  # Teams' limit on a webhook message
RATE_LIMIT = (4, 1.0)  # messages per second per webhook (Microsoft's connector limits)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class RecordedRequest:
    """One request the simulator received, and the status it answered."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    status: int = 0


@dataclass
class _Fault:
    status: int | None  # None: answer normally, after ``delay``
    retry_after: float | None
    delay: float | None


class TeamsSimulator:
    """``async with TeamsSimulator() as sim:`` then ``sim.add_webhook()`` / ``sim.add_workflow()`` URLs."""

    def __init__(
        self,
        *,
        specs_dir: Path | None = None,
        check_spec: bool = True,
        rate_limits: bool = False,
        max_bytes: int = MAX_BYTES,
        keep_requests: int | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.spec: TeamsSpec | None = teams_spec(specs_dir) if check_spec else None
        self.check_spec = check_spec
        self.rate_limits = rate_limits
        self.max_bytes = max_bytes
        self.host, self.port = host, port
        self.requests: list[RecordedRequest] = []
        # None keeps every request (tests slice it); a long-running ``hubwire simulate`` keeps the last N.
        self.keep_requests = keep_requests
        self.mismatches: list[str] = []
        self.messages: dict[str, list[dict[str, Any]]] = {}  # webhook path -> accepted messages
        self._workflow_sigs: dict[str, str] = {}  # workflow path -> its sig
        self._faults: deque[_Fault] = deque()
        self._calls: dict[str, deque[float]] = {}
        self._runner: web.AppRunner | None = None
        self.url = ""

    # lifecycle ------------------------------------------------------------------------
    async def start(self) -> TeamsSimulator:
        app = web.Application(middlewares=[self._middleware], client_max_size=max(self.max_bytes * 4, 1024**2))
        app.router.add_post("/webhookb2/{group}/IncomingWebhook/{id}/{owner}", self._incoming)
        app.router.add_post("/workflows/{id}/triggers/manual/paths/invoke", self._workflow)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        # Open keep-alive connections of clients must not hold up closing the simulator.
        site = web.TCPSite(self._runner, self.host, self.port, shutdown_timeout=0.5)
        await site.start()
        sockets = getattr(site._server, "sockets", None) or []
        self.url = f"http://{self.host}:{sockets[0].getsockname()[1]}"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> TeamsSimulator:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # webhooks, faults and inspection (for tests) ------------------------------------------
    def add_webhook(self) -> str:
        """A new incoming-webhook URL (the shape of ``https://<tenant>.webhook.office.com/webhookb2/...``)."""
        path = f"/webhookb2/{uuid.uuid4()}@{uuid.uuid4()}/IncomingWebhook/{secrets.token_hex(16)}/{uuid.uuid4()}"
        self.messages[path] = []
        return f"{self.url}{path}"

    def add_workflow(self) -> str:
        """A new Workflows webhook URL (the shape of a Power Automate "When a Teams webhook request is received")."""
        path = f"/workflows/{secrets.token_hex(16)}/triggers/manual/paths/invoke"
        sig = secrets.token_urlsafe(32)
        self._workflow_sigs[path] = sig
        self.messages[path] = []
        return f"{self.url}{path}?api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={sig}"

    def cards(self, url: str) -> list[dict[str, Any]]:
        """The Adaptive Cards accepted at ``url`` (a webhook or workflow URL), in order."""
        path = url.removeprefix(self.url).split("?")[0]
        return [att["content"] for msg in self.messages.get(path, []) for att in msg["attachments"]]

    def fail_next(
        self, n: int = 1, *, status: int = 500, retry_after: float | None = None, delay: float | None = None
    ) -> None:
        """Answer the next ``n`` requests with ``status``, after ``delay`` seconds."""
        self._faults.extend(_Fault(status, retry_after, delay) for _ in range(n))

    def slow_next(self, n: int = 1, *, delay: float) -> None:
        """Answer the next ``n`` requests normally, but only after ``delay`` seconds."""
        self._faults.extend(_Fault(None, None, delay) for _ in range(n))

    # internals --------------------------------------------------------------------------
    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        raw = await request.read()
        rec = RecordedRequest(
            request.method, request.path, dict(request.query), dict(request.headers), raw.decode(errors="replace")
        )
        self.requests.append(rec)
        if self.keep_requests is not None and len(self.requests) > self.keep_requests:
            del self.requests[: len(self.requests) - self.keep_requests]
        fault = self._faults.popleft() if self._faults else None
        resp: web.StreamResponse | None = None
        if fault is not None:
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.status is not None:
                headers = {} if fault.retry_after is None else {"Retry-After": str(math.ceil(fault.retry_after))}
                resp = _text(_endpoint_error(fault.status), fault.status, headers)
        if resp is None:
            try:
                resp = await handler(request)
            except web.HTTPNotFound:
                resp = _text("Not Found", 404)
        rec.status = resp.status
        return resp

    async def _incoming(self, request: web.Request) -> web.Response:
        if request.path not in self.messages or request.path in self._workflow_sigs:
            return _text("Not Found", 404)
        return await self._receive(request, web.Response(text="1", content_type="text/plain"))

    async def _workflow(self, request: web.Request) -> web.Response:
        sig = self._workflow_sigs.get(request.path)
        if sig is None:
            return _json({"error": {"code": "WorkflowNotFound", "message": "The workflow could not be found."}}, 404)
        if request.query.get("sig") != sig:
            return _json(
                {"error": {"code": "DirectApiInvalidSignature", "message": "The provided signature is not valid."}},
                401,
            )
        return await self._receive(request, web.Response(status=202))

    async def _receive(self, request: web.Request, accepted: web.Response) -> web.Response:
        raw = await request.read()
        if len(raw) > self.max_bytes:
            return _text(_endpoint_error(413), 413)
        try:
            payload = json.loads(raw)
        except ValueError:
            return _text(BAD_PAYLOAD, 400)
        problems: list[str] = []
        if self.spec is not None:
            problems = list(self.spec.check_message(payload).problems)
        elif self.check_spec:
            problems = check_envelope(payload)  # no schema at hand: the envelope at least
        if problems:
            found = [f"{request.method} {request.path}: {p}" for p in problems]
            self.mismatches.extend(found)
            return _text(f"{MISMATCH}: {'; '.join(problems)}", 400)
        if self.rate_limits:
            wait = self._limited(request.path)
            if wait is not None:
                return _text(_endpoint_error(429), 429, {"Retry-After": str(wait)})
        self.messages[request.path].append(payload)
        return accepted

    def _limited(self, key: str) -> int | None:
        count, window = RATE_LIMIT
        now = time.monotonic()
        calls = self._calls.setdefault(key, deque())
        while calls and calls[0] <= now - window:
            calls.popleft()
        if len(calls) >= count:
            return max(1, math.ceil(calls[0] + window - now))
        calls.append(now)
        return None


def _endpoint_error(status: int) -> str:
    # The text Teams' connector answers with when the channel endpoint refuses a message.
    return f"Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error {status}"


def _json(data: Any, status: int) -> web.Response:
    return web.Response(body=json.dumps(data).encode(), status=status, content_type="application/json")


def _text(text: str, status: int, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(text=text, status=status, headers=dict(headers or {}))
