"""A local SendGrid v3 Mail Send API (aiohttp, loopback, ephemeral port) for tests and ``hubwire simulate sendgrid``.

Speaks the wire format of ``POST /v3/mail/send``: an API key as ``Authorization: Bearer`` (401 with
SendGrid's messages when missing or unknown), 202 with an empty body and ``X-Message-Id`` (200 in
sandbox mode, which delivers nothing), SendGrid's error body ``{"errors": [{"message", "field",
"help"}]}`` for what the description cannot say (no subject without a template, no content, a
recipient twice in one personalization), 413 over the size limit (30 MB as SendGrid's) and, on
request, 429 ``too many requests`` with ``Retry-After`` and ``X-RateLimit-Reset``.

Every request is checked against SendGrid's OpenAPI description when the specs folder is present
(:mod:`hubwire.simulators.sendgrid.spec`): a mismatch is recorded in ``mismatches`` and answered
400 with ``MISMATCH`` as the error message. It also records every request and injects faults
(``fail_next``, ``slow_next``). Accepted mail is kept in ``mails``. In-memory only; never contacts
the real SendGrid.
"""

from __future__ import annotations

import json
import math
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from hubwire.simulators.loopback import Fault, LoopbackSimulator, RecordedRequest
from hubwire.simulators.sendgrid.spec import SendGridSpec, sendgrid_spec

__all__ = ["DEFAULT_API_KEY", "MISMATCH", "SendGridSimulator", "SentMail"]

DEFAULT_API_KEY = "SG.hubwire-test-key.0000000000000000000000000000000000000000000"
MISMATCH = "Hubwire SendGrid simulator: request does not match SendGrid's OpenAPI description"
HELP = "http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html"
MAX_BYTES = 30 * 1024 * 1024
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class SentMail:
    """One accepted mail: its ``X-Message-Id`` and the request body as sent."""

    message_id: str
    body: dict[str, Any]


class SendGridSimulator(LoopbackSimulator):
    """``async with SendGridSimulator() as sim:`` -> ``sim.url`` serves SendGrid's mail send."""

    name = "SendGrid"

    def __init__(
        self,
        api_keys: Iterable[str] = (DEFAULT_API_KEY,),
        *,
        specs_dir: Path | None = None,
        check_spec: bool = True,
        max_bytes: int = MAX_BYTES,
        keep_requests: int | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host=host, port=port, keep_requests=keep_requests)
        self.api_keys = set(api_keys)
        self.spec: SendGridSpec | None = sendgrid_spec(specs_dir) if check_spec else None
        # A body beyond SendGrid's limit is refused 413 unread.
        self.max_bytes = self.max_body = max_bytes
        self.mails: list[SentMail] = []

    def _kept(self) -> tuple[list[Any] | dict[Any, Any], ...]:
        return (self.mails,)

    def _add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/v3/mail/send", self._send)

    # internals --------------------------------------------------------------------------
    def _refuse(self, request: web.Request) -> web.StreamResponse | None:
        """SendGrid checks the API key before anything else."""
        key = _bearer(request.headers.get("Authorization", ""))
        if key is None:
            return _errors(401, ("authorization required", None, None))
        if key not in self.api_keys:
            return _errors(401, ("The provided authorization grant is invalid, expired, or revoked", None, None))
        return None

    def _fault_response(self, fault: Fault, request: RecordedRequest) -> web.StreamResponse:
        status = fault.status or 500
        headers = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = str(math.ceil(fault.retry_after))
            headers["X-RateLimit-Reset"] = str(int(time.time() + math.ceil(fault.retry_after)))
        message = "too many requests" if status == 429 else "internal server error"
        return _errors(status, (message, None, None), headers=headers)

    def _not_found(self, request: RecordedRequest) -> web.StreamResponse:
        return _errors(404, ("not found", None, None))

    async def _dispatch(self, request: web.Request, handler: Handler, recorded: RecordedRequest) -> web.StreamResponse:
        raw = recorded.body
        if (request.content_length or 0) > self.max_bytes or len(raw) > self.max_bytes:
            return _errors(413, ("content too large", None, None))
        if self.spec is not None:
            check = self.spec.check_request(request.method, request.path, request.headers, raw)
            if not check.ok:
                found = [f"{request.method} {request.path}: {p}" for p in check.problems]
                self.mismatches.extend(found)
                return _errors(400, (f"{MISMATCH}: {'; '.join(check.problems)}", None, None), mismatches=found)
        return await handler(request)

    async def _send(self, request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.read())
        except ValueError:
            return _errors(400, ("Bad Request", None, None))
        if not isinstance(body, dict):
            return _errors(400, ("Bad Request", None, None))
        problems = _mail_problems(body)
        if problems:
            return _errors(400, *problems)
        settings = body.get("mail_settings")
        sandbox = settings.get("sandbox_mode") if isinstance(settings, dict) else None
        if isinstance(sandbox, dict) and sandbox.get("enable"):
            return web.Response(status=200)  # validated, not delivered
        message_id = secrets.token_urlsafe(16)[:22]
        self.mails.append(SentMail(message_id, body))
        return web.Response(status=202, headers={"X-Message-Id": message_id})


def _mail_problems(body: Mapping[str, Any]) -> list[tuple[str, str | None, str | None]]:
    """SendGrid's own 400s for what its description cannot express (message, field, help)."""
    problems: list[tuple[str, str | None, str | None]] = []
    personalizations = [p for p in body.get("personalizations") or [] if isinstance(p, dict)]
    if not isinstance(body.get("from"), dict) or not body["from"].get("email"):
        problems.append(
            (
                "The from object must be provided for every email send. It is an e-mail address.",
                "from",
                f"{HELP}#message.from",
            )
        )
    templated = bool(body.get("template_id"))
    if not templated and not body.get("subject") and not all(p.get("subject") for p in personalizations):
        problems.append(
            (
                "The subject is required. You can get around this requirement if you use a template with a subject "
                "defined or if every personalization has a subject defined.",
                "subject",
                f"{HELP}#message.subject",
            )
        )
    if not templated and not body.get("content"):
        problems.append(
            (
                "Unless a valid template_id is provided, the content parameter is required. There must be at least "
                "one defined content block. We typically suggest both text/plain and text/html blocks are included, "
                "but only one block is required.",
                "content",
                f"{HELP}#message.content",
            )
        )
    for i, p in enumerate(personalizations):
        seen: set[str] = set()
        for kind in ("to", "cc", "bcc"):
            for addr in p.get(kind) or []:
                email = str(addr.get("email", "")).lower() if isinstance(addr, dict) else ""
                if email in seen:
                    problems.append(
                        (
                            "Each email address in the personalization block should be unique between to, cc, and "
                            f"bcc. We found the first duplicate instance of [{email}] in the "
                            f"personalizations.{i}.{kind} field.",
                            f"personalizations.{i}.{kind}",
                            f"{HELP}#message.recipient-errors",
                        )
                    )
                seen.add(email)
    return problems


def _bearer(header: str) -> str | None:
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _errors(
    status: int,
    *errors: tuple[str, str | None, str | None],
    headers: Mapping[str, str] | None = None,
    mismatches: list[str] | None = None,
) -> web.Response:
    """SendGrid's error body; a spec mismatch adds the simulator's own ``mismatches`` list."""
    body: dict[str, Any] = {"errors": [{"message": m, "field": f, "help": h} for m, f, h in errors]}
    if mismatches:
        body["mismatches"] = mismatches
    return web.Response(
        body=json.dumps(body).encode(), status=status, headers={"Content-Type": "application/json", **(headers or {})}
    )
