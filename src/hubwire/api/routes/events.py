"""The event log over HTTP: pages (``GET /v1/events``) and a Server-Sent Events stream.

The stream polls the log (the log, not an in-process signal, is the truth shared by every
process), resumes from ``Last-Event-ID`` and ends when the client goes away, after ``timeout``
seconds (default 300), and when uvicorn shuts down (sse-starlette's response watches for it, as
the dashboard's streams do), so that a server can always drain its connections and stop.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import StreamingResponse
from sse_starlette import EventSourceResponse, ServerSentEvent

from hubwire.api.auth import hub_of
from hubwire.errors import ValidationError
from hubwire.nouns.values import INT_MAX
from hubwire.store.events import EventRecord, read_after

__all__ = [
    "DEFAULT_POLL_INTERVAL",
    "DEFAULT_STREAM_SECONDS",
    "STREAM_BATCH",
    "as_sse",
    "resume_point",
    "router",
]

router = APIRouter(tags=["Event"])
STREAM_BATCH = 200
DEFAULT_POLL_INTERVAL = 0.5
HEARTBEAT_INTERVAL = 15.0
# A stream ends by itself after a while so that a server can always drain its connections and
# stop; EventSource clients reconnect on their own, resuming from Last-Event-ID.
DEFAULT_STREAM_SECONDS = 300.0
# Lines end in LF, as this stream's clients have always read them (sse-starlette's default is CRLF).
SEP = "\n"


def _types(raw: str | None) -> list[str]:
    return [t.strip() for t in (raw or "").split(",") if t.strip()]


@router.get("/v1/events", summary="Events after a sequence number, oldest first")
async def list_events(
    request: Request,
    after: int = Query(0, ge=0, le=INT_MAX, description="return events with seq greater than this"),
    types: str | None = Query(None, description="comma-separated types; `Deal.*` matches a prefix"),
    entity_id: str | None = Query(None),
    limit: int = Query(100, ge=1, le=1000),
) -> dict[str, Any]:
    async with hub_of(request).read() as conn:
        found = await read_after(conn, after, limit=limit, types=_types(types), entity_id=entity_id)
    return {"data": [e.to_dict() for e in found], "next_after": found[-1].seq if found else after}


def as_sse(event: EventRecord) -> ServerSentEvent:
    data = json.dumps(event.to_dict(), separators=(",", ":"), ensure_ascii=False)
    return ServerSentEvent(data=data, event=event.type, id=str(event.seq), sep=SEP)


def resume_point(after: int, last_event_id: str | None) -> int:
    """Where a stream starts: after ``Last-Event-ID`` when the client resumes, else after ``after``."""
    if last_event_id is None or not last_event_id.strip():
        return after
    text = last_event_id.strip()
    if not text.isascii() or not text.isdigit() or int(text) > INT_MAX:
        raise ValidationError.single("Last-Event-ID", "type", "Last-Event-ID must be an event seq (an integer)")
    return int(text)


@router.get(
    "/v1/events/stream",
    summary="Server-Sent Events: every new event (`id: seq`, `event: type`, `data: json`)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def stream_events(
    request: Request,
    after: int = Query(0, ge=0, le=INT_MAX),
    types: str | None = Query(None),
    last_event_id: str | None = Header(None, alias="Last-Event-ID", description="resume after this event seq"),
    timeout: float = Query(
        DEFAULT_STREAM_SECONDS,
        gt=0,
        le=86400,
        description="end the stream after this many seconds (clients reconnect with Last-Event-ID)",
    ),
) -> Response:
    hub = hub_of(request)
    wanted = _types(types)
    start = resume_point(after, last_event_id)
    state = request.app.state
    poll = float(getattr(state, "sse_poll_interval", DEFAULT_POLL_INTERVAL))

    async def stream() -> AsyncIterator[ServerSentEvent]:
        cursor = start
        state.event_streams = getattr(state, "event_streams", 0) + 1
        deadline = time.monotonic() + timeout
        try:
            yield ServerSentEvent(retry=int(poll * 1000) or 1000, sep=SEP)
            while True:
                async with hub.read() as conn:
                    batch = await read_after(conn, cursor, limit=STREAM_BATCH, types=wanted)
                for event in batch:
                    yield as_sse(event)
                if batch:
                    cursor = batch[-1].seq
                    if len(batch) == STREAM_BATCH:
                        continue
                if time.monotonic() >= deadline:  # a client gone away: sse-starlette cancels this
                    return
                await asyncio.sleep(poll)
        finally:
            state.event_streams -= 1

    # sse-starlette sends the keep-alive comment (every HEARTBEAT_INTERVAL) and ends the stream on shutdown.
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return EventSourceResponse(stream(), headers=headers, ping=int(HEARTBEAT_INTERVAL), sep=SEP)
