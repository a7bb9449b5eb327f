"""The dashboard's webhooks pages: endpoints and their event filters, deliveries with their attempts,
and what Svix's App Portal offers on them: resend, send a test event, recover since, rotate the secret.

Each form calls the SDK of :mod:`hubwire.webhooks` that the REST routes call, with the scope of its
REST twin. A rotated secret is shown once, on the page that answers the form (``no-store``), never again.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from hubwire.dashboard.pages import PAGE_SIZE, _act, _failed, _form, _hub, _session, _show, render, router
from hubwire.dashboard.sessions import Session
from hubwire.domains.platform import Integration
from hubwire.errors import FieldError, HubwireError, ValidationError
from hubwire.events import registry as event_registry
from hubwire.nouns.schema import parse_datetime
from hubwire.webhooks import get_delivery, list_attempts, list_deliveries, recover, resend, rotate_secret, send_test
from hubwire.webhooks.attempts import STATUSES
from hubwire.webhooks.signing import ROTATION_GRACE

__all__ = ["MAX_GRACE_HOURS"]

MAX_GRACE_HOURS = 30 * 24  # the REST route's limit (30 days)


async def _webhooks_context(request: Request, status: str | None) -> dict[str, Any]:
    return {
        **await _deliveries_context(request, status),
        "endpoints": await Integration.find({"provider": "webhook"}, limit=1000),
        "status_filter": status,
        "statuses": STATUSES,
        "event_names": [t.name for t in event_registry.event_types()],
        "grace_hours": ROTATION_GRACE / 3600,
        "rotated": None,
    }


@router.get("/webhooks", response_class=HTMLResponse)
async def webhooks_page(
    request: Request, status: str | None = None, recovered: int | None = None, endpoint: str = ""
) -> Response:
    async def load() -> dict[str, Any]:
        return {**await _webhooks_context(request, status), "recovered": recovered, "recovered_from": endpoint}

    return await _show(request, "webhooks.html", load)


async def _deliveries_context(request: Request, status: str | None) -> dict[str, Any]:
    return {"deliveries": await list_deliveries(_hub(request), status=status or None, limit=PAGE_SIZE)}


async def _delivery_context(request: Request, id: str) -> dict[str, Any]:
    hub = _hub(request)
    return {"delivery": await get_delivery(hub, id), "attempts": await list_attempts(hub, id)}


@router.get("/webhooks/deliveries/{id}", response_class=HTMLResponse)
async def delivery_page(request: Request, id: str) -> Response:
    return await _show(request, "delivery.html", lambda: _delivery_context(request, id))


@router.post("/webhooks/deliveries/{id}/resend")
async def delivery_resend(request: Request, id: str) -> Response:
    hub = _hub(request)
    return await _act(
        request,
        "POST",
        "/v1/webhooks/deliveries/{id}/resend",
        lambda form, _: resend(hub, id),
        f"/webhooks/deliveries/{id}",
    )


@router.post("/webhooks/endpoints")
async def endpoint_create(request: Request) -> Response:
    async def run(form: dict[str, str], _: Session) -> Any:
        events = [e for e in (await request.form()).getlist("events") if isinstance(e, str)]
        return await Integration.connect(provider="webhook", url=form.get("url", ""), events=events)

    return await _act(request, "POST", "/v1/integrations/connect", run, lambda e: f"/integrations/{e.id}")


@router.post("/webhooks/endpoints/{id}/test")
async def endpoint_test(request: Request, id: str) -> Response:
    """Queue a ``webhook.test`` event to the endpoint, then follow its delivery."""
    hub = _hub(request)
    return await _act(
        request,
        "POST",
        "/v1/webhooks/endpoints/{id}/test",
        lambda form, _: send_test(hub, id),
        lambda row: f"/webhooks/deliveries/{row.id}",
    )


@router.post("/webhooks/endpoints/{id}/recover")
async def endpoint_recover(request: Request, id: str) -> Response:
    """Send again now every delivery of the endpoint that failed since the time given (UTC)."""
    hub = _hub(request)

    async def run(form: dict[str, str], _: Session) -> int:
        since = parse_datetime("since", form.get("since", "").strip())
        if isinstance(since, FieldError):
            raise ValidationError.single("since", "invalid_datetime", "since must be a date and time (UTC)")
        return await recover(hub, id, since.timestamp())

    return await _act(
        request,
        "POST",
        "/v1/webhooks/endpoints/{id}/recover",
        run,
        lambda n: "/webhooks?" + urlencode({"recovered": n, "endpoint": id}),
    )


@router.post("/webhooks/endpoints/{id}/rotate-secret")
async def endpoint_rotate(request: Request, id: str) -> Response:
    """A new signing secret, shown once on the page this answers; the old one signs on for the grace period."""
    got = await _session(request)
    if isinstance(got, Response):
        return got
    try:
        form = await _form(request, got)
        got.require("POST", "/v1/webhooks/endpoints/{id}/rotate-secret")
        grace = _grace_hours(form.get("grace_hours", ""))
        secret = await rotate_secret(_hub(request), id, grace=grace * 3600)
        context = await _webhooks_context(request, None)
    except HubwireError as exc:
        return _failed(request, got, exc)
    rotated = {"endpoint": id, "secret": secret, "grace_hours": grace}
    return render(request, got, "webhooks.html", **{**context, "rotated": rotated})


def _grace_hours(text: str) -> float:
    if not text.strip():
        return ROTATION_GRACE / 3600
    try:
        hours = float(text)
    except ValueError:
        hours = -1.0
    if not 0 <= hours <= MAX_GRACE_HOURS:
        raise ValidationError.single(
            "grace_hours", "out_of_range", f"the grace period is a number of hours from 0 to {MAX_GRACE_HOURS}"
        )
    return hours
