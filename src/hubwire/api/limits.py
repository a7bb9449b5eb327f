"""Limits on a request's URL and body, enforced for every route before and while it is read.

- A body larger than ``MAX_BODY_BYTES`` (1 MiB) is a 413 problem. A declared ``Content-Length``
  over the limit is refused before anything is read; a body without one (chunked) is counted as
  it arrives and refused at the first byte past the limit, so a 100 MB upload never sits in memory.
- A URL (path and query string) longer than ``MAX_URL_BYTES`` (8 KiB) is a 414 problem. uvicorn
  itself answers 400 to a request line far past its own buffer.
- A URL holding NUL (``%00``) is a 422: no id, filter value or parameter may hold one (PostgreSQL
  refuses it in text, which made any route a 500), so it is refused once, here.

Module constants rather than settings: one limit for every route, the same in every deployment,
except where the sender is not a client of the API but a provider whose payloads are as large as
it makes them (inbound webhooks: ``HUBWIRE_INBOUND_MAX_BODY_BYTES``), given as ``body_limits``.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hubwire.api.problems import PayloadTooLarge, problem, problem_for
from hubwire.errors import FieldError, ValidationError

__all__ = ["MAX_BODY_BYTES", "MAX_URL_BYTES", "RequestLimits"]

MAX_BODY_BYTES = 1024 * 1024
MAX_URL_BYTES = 8 * 1024


def _too_large(limit: int) -> PayloadTooLarge:
    message = f"the request body exceeds {limit} bytes"
    return PayloadTooLarge(message, [FieldError("body", "too_large", message)])


class RequestLimits:
    """ASGI middleware: 414 for a long URL, 413 for a large body (declared, or counted while read).

    ``body_limits``: path prefix -> the body limit of the paths under it, instead of ``MAX_BODY_BYTES``.
    """

    def __init__(self, app: ASGIApp, body_limits: Mapping[str, int] | None = None) -> None:
        self.app = app
        self.body_limits = dict(body_limits or {})

    def _body_limit(self, path: str) -> int:
        for prefix, limit in self.body_limits.items():
            if path.startswith(prefix):
                return limit
        return MAX_BODY_BYTES

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        url_bytes = len(scope.get("raw_path") or scope["path"].encode()) + len(scope.get("query_string", b""))
        if url_bytes > MAX_URL_BYTES:
            detail = f"the URL is {url_bytes} bytes long; at most {MAX_URL_BYTES} are accepted"
            await problem(414, "uri_too_long", "URI too long", detail)(scope, receive, send)
            return
        if b"%00" in scope.get("query_string", b"") or "\x00" in scope["path"]:
            bad_url = ValidationError.single("url", "invalid_text", "the URL holds a NUL character (%00)")
            await problem_for(bad_url)(scope, receive, send)
            return
        limit = self._body_limit(scope["path"])
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await problem_for(_too_large(limit))(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # Raised inside the handler's read: the problem handlers turn it into the 413.
                    raise _too_large(limit)
            return message

        await self.app(scope, counting_receive, send)
