"""The dashboard's live parts over Server-Sent Events: a sync run's progress, the event stream,
webhook deliveries being sent (the list and one delivery's attempts) and received webhooks being
applied (the list and one hook).

A page that moves names its stream (``data-live="/integrations/{id}/live"``) and ``static/live.js``
follows it: ``event: swap`` carries server-rendered elements that replace those with the same id,
``event: prepend`` rows to put on top of a table, ``event: end`` closes the stream. The streams are
authenticated by the session cookie and ask its key for the scope of their REST twins, like the
pages; without JavaScript a page shows the state it was loaded in.

Every stream ends: a run's when no sync is running or due any more, a delivery's when it succeeded
or is dead, a received hook's when it was applied (a list's when none of its rows is), every one after
:data:`~hubwire.api.routes.events.DEFAULT_STREAM_SECONDS` (EventSource reconnects, the event stream
resuming from ``Last-Event-ID``), when the browser goes away, and when uvicorn shuts down
(sse-starlette's response watches for it), so that a server with a page open still stops at once.
Like the REST stream, they poll the database: it is the truth every process shares.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from fastapi import Header, Request
from fastapi.responses import Response
from sse_starlette import EventSourceResponse, ServerSentEvent

from hubwire.api.routes.events import DEFAULT_POLL_INTERVAL, DEFAULT_STREAM_SECONDS, STREAM_BATCH, resume_point
from hubwire.dashboard.pages import (
    DUE_STATUSES,
    SECURITY_HEADERS,
    _failed,
    _hub,
    _inbound_context,
    _integration_context,
    _received_context,
    _session,
    router,
    templates,
)
from hubwire.dashboard.webhooks import _deliveries_context, _delivery_context
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


async def _follow(
    request: Request,
    rest_path: str,
    load: Callable[[], Awaitable[dict[str, Any]]],
    parts: tuple[str, ...],
    pending: Callable[[dict[str, Any]], bool],
) -> Response:
    """A stream of ``parts`` rendered from ``load()``, sent again as they change, until nothing in them
    is ``pending`` (or what they show is gone); the session needs the scope of ``GET rest_path``."""
    got = await _session(request)
    if isinstance(got, Response):
        return got
    try:
        got.require("GET", rest_path)
        first = await load()
    except HubwireError as exc:
        return _failed(request, got, exc)
    shown, poll = [templates.get_template(part) for part in parts], _poll(request)

    async def stream() -> AsyncIterator[ServerSentEvent]:
        context, sent = first, ""
        deadline = time.monotonic() + DEFAULT_STREAM_SECONDS
        while True:
            html = "".join(template.render(session=got, **context) for template in shown)
            if html != sent:
                yield ServerSentEvent(data=html, event="swap")
                sent = html
            if not pending(context):
                yield END
                return
            if time.monotonic() >= deadline:
                return
            await asyncio.sleep(poll)
            try:
                context = await load()
            except HubwireError:  # deleted meanwhile: nothing more to follow
                yield END
                return

    return _response(stream())


@router.get("/integrations/{id}/live")
async def integration_live(request: Request, id: str) -> Response:
    """The integration's summary and runs (records and pages so far, status), sent again as they
    change, until no sync is running or due."""
    return await _follow(
        request,
        "/v1/integrations/{id}/runs",
        lambda: _integration_context(request, id),
        ("integration_summary.html", "runs.html"),
        lambda context: bool(context["running"]),
    )


@router.get("/webhooks/live")
async def deliveries_live(request: Request, status: str = "") -> Response:
    """The deliveries list (``status``: its filter), sent again as it changes, until none is due."""
    return await _follow(
        request,
        "/v1/webhooks/deliveries",
        lambda: _deliveries_context(request, status),
        ("delivery_rows.html",),
        lambda context: any(d.status in DUE_STATUSES for d in context["deliveries"]),
    )


@router.get("/webhooks/deliveries/{id}/live")
async def delivery_live(request: Request, id: str) -> Response:
    """A delivery and its attempts, sent again as they change, until it succeeded or is dead."""
    return await _follow(
        request,
        "/v1/webhooks/deliveries/{id}",
        lambda: _delivery_context(request, id),
        ("delivery_state.html",),
        lambda context: context["delivery"].status in DUE_STATUSES,
    )


# Before /inbound/{id}/live: "rows" is no hook's id.
@router.get("/inbound/rows/live")
async def inbound_live(request: Request, status: str = "", integration: str = "", event_type: str = "") -> Response:
    """The received webhooks list (with the page's filters), sent again as it changes, until none waits."""
    return await _follow(
        request,
        "/v1/hooks/received",
        lambda: _inbound_context(request, status, integration, event_type),
        ("inbound_rows.html",),
        lambda context: any(h.status == "received" for h in context["hooks"]),
    )


@router.get("/inbound/{id}/live")
async def received_live(request: Request, id: str) -> Response:
    """A received webhook, sent again as it changes, until it was applied, ignored or failed."""
    return await _follow(
        request,
        "/v1/hooks/received/{id}",
        lambda: _received_context(request, id),
        ("received_state.html",),
        lambda context: context["hook"]["status"] == "received",
    )


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
