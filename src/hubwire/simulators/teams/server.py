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

import json
import math
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from aiohttp import web

from hubwire.simulators.loopback import Fault, LoopbackSimulator, RecordedRequest
from hubwire.simulators.teams.spec import TeamsSpec, check_envelope, teams_spec

__all__ = ["MAX_BYTES", "MISMATCH", "RATE_LIMIT", "TeamsSimulator"]

MISMATCH = "Hubwire Teams simulator: message is not a valid Teams Adaptive Card message"
BAD_PAYLOAD = "Bad payload received by generic incoming webhook."
MAX_BYTES = 28 * 1024  # Teams' limit on a webhook message
RATE_LIMIT = (4, 1.0)  # messages per second per webhook (Microsoft's connector limits)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class TeamsSimulator(LoopbackSimulator):
    """``async with TeamsSimulator() as sim:`` then ``sim.add_webhook()`` / ``sim.add_workflow()`` URLs."""

    name = "Teams"

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
        super().__init__(host=host, port=port, keep_requests=keep_requests)
        self.spec: TeamsSpec | None = teams_spec(specs_dir) if check_spec else None
        self.check_spec = check_spec
        self.rate_limits = rate_limits
        self.max_bytes = max_bytes
        self.messages: dict[str, list[dict[str, Any]]] = {}  # webhook path -> accepted messages
        self._workflow_sigs: dict[str, str] = {}  # workflow path -> its sig

    def _kept(self) -> tuple[list[Any] | dict[Any, Any], ...]:
        return tuple(self.messages.values())

    def _add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/webhookb2/{group}/IncomingWebhook/{id}/{owner}", self._incoming)
        router.add_post("/workflows/{id}/triggers/manual/paths/invoke", self._workflow)

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

    # internals --------------------------------------------------------------------------
    def _fault_response(self, fault: Fault, request: RecordedRequest) -> web.StreamResponse:
        """What Teams' connector answers when the channel endpoint fails with ``fault.status``."""
        status = fault.status or 500
        headers = {} if fault.retry_after is None else {"Retry-After": str(math.ceil(fault.retry_after))}
        return _text(_endpoint_error(status), status, headers)

    def _not_found(self, request: RecordedRequest) -> web.StreamResponse:
        return _text("Not Found", 404)

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
        """Whole seconds to wait when ``key`` is over Teams' limit, else None (and the message is counted)."""
        wait = self._limit_wait(key, *RATE_LIMIT, time.monotonic())
        return None if wait is None else max(1, math.ceil(wait))


def _endpoint_error(status: int) -> str:
    # The text Teams' connector answers with when the channel endpoint refuses a message.
    return f"Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error {status}"


def _json(data: Any, status: int) -> web.Response:
    return web.Response(body=json.dumps(data).encode(), status=status, content_type="application/json")


def _text(text: str, status: int, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(text=text, status=status, headers=dict(headers or {}))
