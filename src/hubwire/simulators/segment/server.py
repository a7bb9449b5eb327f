"""A local Segment tracking API (aiohttp, loopback, ephemeral port) for tests and analytics forwarding.

Speaks the wire format of Segment's HTTP tracking API: ``POST /v1/batch`` with ``{"batch": [{type,
event, userId | anonymousId, properties | traits, messageId, timestamp}]}`` and the single-message
endpoints ``/v1/track`` and ``/v1/identify`` (the message itself, its ``type`` implied), gzipped or
not. The write key is the user of HTTP basic auth (401 when missing or unknown). Answers 200
``{"success": true}``; 400 for a batch over 500 KB, a message over 32 KB, or a message without
``userId`` or ``anonymousId`` (or a track without ``event``), in the shape the official clients read
(``{"success": false, "code", "message"}``); on request (``fail_next``) 429 with ``Retry-After`` or a
5xx. A refused request keeps none of its messages.

Segment publishes no OpenAPI description of this API, so nothing is checked against one. Accepted
messages are kept in ``messages``. In-memory only; never contacts the real Segment.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from hubwire.simulators.loopback import MALFORMED, Fault, LoopbackSimulator, RecordedRequest, json_response

__all__ = ["DEFAULT_WRITE_KEY", "SegmentMessage", "SegmentSimulator"]

DEFAULT_WRITE_KEY = "hubwireTestSegmentWriteKey000000"
MAX_BATCH_BYTES = 500 * 1024  # Segment's limits: 500 KB a batch, 32 KB a message
MAX_MESSAGE_BYTES = 32 * 1024
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
TYPES = frozenset({"track", "identify", "page", "screen", "group", "alias"})


@dataclass
class SegmentMessage:
    """One accepted message: its ``type``, ids, event name (tracks only) and the message as sent."""

    type: str
    user_id: str | None
    anonymous_id: str | None
    event: str | None
    message_id: str | None
    body: dict[str, Any]


class _Refused(ValueError):
    """A message Segment would refuse with 400."""


class SegmentSimulator(LoopbackSimulator):
    """``async with SegmentSimulator() as sim:`` -> ``sim.url`` is a Segment host for the official client."""

    name = "Segment"

    def __init__(
        self,
        write_keys: Iterable[str] = (DEFAULT_WRITE_KEY,),
        *,
        max_batch_bytes: int = MAX_BATCH_BYTES,
        max_message_bytes: int = MAX_MESSAGE_BYTES,
        keep_requests: int | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host=host, port=port, keep_requests=keep_requests)
        self.write_keys = set(write_keys)
        # A body beyond the batch limit is refused 400 unread, as Segment does.
        self.max_batch_bytes = self.max_body = max_batch_bytes
        self.max_message_bytes = max_message_bytes
        self.messages: list[SegmentMessage] = []

    def _kept(self) -> tuple[list[Any] | dict[Any, Any], ...]:
        return (self.messages,)

    def _add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/v1/batch", self._respond_to)
        router.add_post("/v1/track", self._respond_to)
        router.add_post("/v1/identify", self._respond_to)

    # internals --------------------------------------------------------------------------
    def _refuse(self, request: web.Request) -> web.StreamResponse | None:
        """Segment checks the write key before anything else."""
        if _write_key(request.headers.get("Authorization", "")) not in self.write_keys:
            return _error(401, "unauthorized", "Invalid write key")
        return None

    def _fault_response(self, fault: Fault, request: RecordedRequest) -> web.StreamResponse:
        status = fault.status or 500
        if status == 429:
            headers = {"Retry-After": str(math.ceil(fault.retry_after or 1))}
            return _error(429, "rate_limited", "Too many requests", headers)
        return _error(status, "server_error", "Internal server error")

    def _not_found(self, request: RecordedRequest) -> web.StreamResponse:
        return _error(404, "not_found", "Not found")

    async def _dispatch(self, request: web.Request, handler: Handler, recorded: RecordedRequest) -> web.StreamResponse:
        if (request.content_length or 0) > self.max_batch_bytes or len(recorded.body) > self.max_batch_bytes:
            return _error(400, "invalid_request", f"Batch exceeds the limit of {self.max_batch_bytes} bytes")
        return await handler(request)

    async def _respond(self, request: RecordedRequest) -> web.StreamResponse:
        try:
            body = json.loads(request.body)
            if not isinstance(body, dict):
                raise _Refused("the body must be a JSON object")
            if request.path == "/v1/batch":
                raw = body["batch"]
                if not isinstance(raw, list):
                    raise _Refused("batch must be an array of messages")
            else:
                raw = [{**body, "type": request.path.removeprefix("/v1/")}]
            messages = [self._message(m) for m in raw]
        except _Refused as exc:
            return _error(400, "invalid_request", str(exc))
        except MALFORMED as exc:
            return _error(400, "invalid_request", f"Malformed request body: {exc}")
        self.messages.extend(messages)
        return json_response(200, {"success": True})

    def _message(self, raw: Any) -> SegmentMessage:
        """One message of a request, or _Refused for one Segment would refuse."""
        if not isinstance(raw, dict):
            raise _Refused("a message must be a JSON object")
        kind = raw.get("type")
        if kind not in TYPES:
            raise _Refused(f"unknown message type {kind!r}")
        if len(json.dumps(raw).encode()) > self.max_message_bytes:
            raise _Refused(f"a message exceeds the limit of {self.max_message_bytes} bytes")
        user_id, anonymous_id = raw.get("userId"), raw.get("anonymousId")
        if not user_id and not anonymous_id:
            raise _Refused(f"a {kind} message needs a userId or an anonymousId")
        if kind == "track" and not raw.get("event"):
            raise _Refused("a track message needs an event")
        return SegmentMessage(
            kind,
            None if user_id is None else str(user_id),
            None if anonymous_id is None else str(anonymous_id),
            raw.get("event"),
            raw.get("messageId"),
            raw,
        )


def _write_key(header: str) -> str | None:
    """The write key of a basic ``Authorization`` header (the user; the password is empty), or None."""
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value.strip():
        return None
    try:
        return base64.b64decode(value.strip(), validate=True).decode().partition(":")[0] or None
    except (binascii.Error, UnicodeDecodeError):
        return None


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> web.StreamResponse:
    """Segment's error body, with the ``code`` and ``message`` its clients read."""
    return json_response(status, {"success": False, "code": code, "message": message}, headers)
