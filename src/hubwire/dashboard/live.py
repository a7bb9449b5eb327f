"""The dashboard's live parts over Server-Sent Events: a sync run's progress and the event stream.

A page that moves names its stream (``data-live="/integrations/{id}/live"``) and ``static/live.js``
follows it: ``event: swap`` carries server-rendered elements that replace those with the same id,
``event: prepend`` rows to put on top of a table, ``event: end`` closes the stream. The streams are
authenticated by the session cookie and ask its key for the scope of their REST twins, like the
pages; without JavaScript a page shows the state it was loaded in.

Every stream ends: a run's when no sync is running or due any more, every one after
:data:`~hubwire.api.routes.events.DEFAULT_STREAM_SECONDS` (EventSource reconnects, the event stream
resuming from ``Last-Event-ID``), when the browser goes away, and when uvicorn shuts down
(sse-starlette's response watches for it), so that a server with a page open still stops at once.
Like the REST stream, they poll the database: it is the truth every process shares.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from fastapi import Header, Request
from fastapi.responses import Response
from sse_starlette import EventSourceResponse, ServerSentEvent

from hubwire.api.routes.events import DEFAULT_POLL_INTERVAL, DEFAULT_STREAM_SECONDS, STREAM_BATCH, resume_point
from hubwire.dashboard.pages import SECURITY_HEADERS, _failed, _hub, _integration_context, _session, router, templates
from hubwire.errors import HubwireError
from hubwire.nouns.values import INT_MAX
from hubwire.store.events import read_after

__all__ = ["END"]

# The last message of a stream that is done (live.js closes the EventSource: no reconnect).
END = ServerSentEvent(data="", event="end")


def _poll(request: Request) -> float:
    return float(getattr(request.app.state, "sse_poll_interval", DEFAULT_POLL_INTERVAL))


def _response(stream: AsyncIterator[ServerSentEvent]) -> Response:
    headers = {k: v for k, v in SECURITY_HEADERS.items() if k != "Cache-Control"}
    return EventSourceResponse(stream, headers=headers)


@router.get("/integrations/{id}/live")
async def integration_live(request: Request, id: str) -> Response:
    """The integration's summary and runs (records and pages so far, status), sent again as they
    change, until no sync is running or due."""
    got = await _session(request)
    if isinstance(got, Response):
        return got
    try:
        got.require("GET", "/v1/integrations/{id}/runs")
        first = await _integration_context(request, id)
    except HubwireError as exc:
        return _failed(request, got, exc)
    summary, runs = templates.get_template("integration_summary.html"), templates.get_template("runs.html")
    poll = _poll(request)

    async def stream() -> AsyncIterator[ServerSentEvent]:
        context, sent = first, ""
        deadline = time.monotonic() + DEFAULT_STREAM_SECONDS
        while True:
            html = summary.render(session=got, **context) + runs.render(session=got, **context)
            if html != sent:
                yield ServerSentEvent(data=html, event="swap")
                sent = html
            if not context["running"]:
                yield END
                return
            if time.monotonic() >= deadline:
                return
            await asyncio.sleep(poll)
            try:
                context = await _integration_context(request, id)
            except HubwireError:  # deleted meanwhile: nothing more to follow
                yield END
                return

    return _response(stream())


@router.get("/events/live")
async def events_live(
    request: Request,
    after: int = 0,
    type: str = "",
    last_event_id: str | None = Header(None, alias="Last-Event-ID"),
) -> Response:
    """New events (``type``: a prefix) after seq ``after`` or ``Last-Event-ID``, as rows for the events table."""
    got = await _session(request)
    if isinstance(got, Response):
        return got
    try:
        got.require("GET", "/v1/events/stream")
        cursor = resume_point(min(max(after, 0), INT_MAX), last_event_id)
    except HubwireError as exc:
        return _failed(request, got, exc)
    hub, rows, poll = _hub(request), templates.get_template("events_rows.html"), _poll(request)
    types = [f"{type}*"] if type else []

    async def stream() -> AsyncIterator[ServerSentEvent]:
        position = cursor
        deadline = time.monotonic() + DEFAULT_STREAM_SECONDS
        while time.monotonic() < deadline:
            async with hub.read() as conn:
                batch = await read_after(conn, position, limit=STREAM_BATCH, types=types)
            if batch:
                position = batch[-1].seq
                # Newest first, as the table lists them.
                html = rows.render(events=batch[::-1], session=got)
                yield ServerSentEvent(data=f'<tbody id="event-rows">{html}</tbody>', event="prepend", id=str(position))
                if len(batch) == STREAM_BATCH:
                    continue
            await asyncio.sleep(poll)

    return _response(stream())
