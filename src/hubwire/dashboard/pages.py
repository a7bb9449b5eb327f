"""The dashboard's pages and the forms they post, served by ``hubwire serve`` at ``/``.

Every page is rendered on the server (Jinja2, autoescaped) and works without JavaScript; the parts
that move (a running sync, the event stream, a delivery being sent, received hooks being applied)
follow Server-Sent Events (:mod:`hubwire.dashboard.live`).
Every request needs a live session (:mod:`hubwire.dashboard.sessions`); every form carries the
session's CSRF token, checked before anything runs; and every action asks the session's key for
the scope its REST twin needs (``session.require("POST", "/v1/integrations/connect")``), so the
dashboard can do nothing the key could not do over REST. The pages call the same SDK functions
as REST and the CLI: one way to do each thing.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from hubwire.api.keys import create_api_key, list_api_keys, revoke_api_key
from hubwire.api.scopes import parse_scope
from hubwire.conflicts import get_conflict, list_conflicts, resolve_conflict
from hubwire.dashboard import charts
from hubwire.dashboard.sessions import COOKIE, SESSION_SECONDS, Session, close_session, load_session, open_session
from hubwire.domains.platform import Integration, sync_key
from hubwire.errors import AuthenticationError, CsrfError, HubwireError, NotFoundError, ValidationError
from hubwire.events import registry as event_registry
from hubwire.hub import Hub
from hubwire.inbound import get_received, list_received, replay
from hubwire.jobs import queue
from hubwire.nouns.noun import Noun
from hubwire.store.events import latest
from hubwire.sync.runs import list_runs

__all__ = ["mapped_nouns", "router"]

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
# A delivery still to be sent (its first attempt, or a retry after a failure): its page follows it live.
DUE_STATUSES = ("pending", "failed")
templates.env.globals["due_statuses"] = DUE_STATUSES
router = APIRouter(include_in_schema=False)

# The script and style come from /static; nothing inline runs, no other origin is asked.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
NAV = [
    ("/", "Overview"),
    ("/integrations", "Integrations"),
    ("/catalogue", "Catalogue"),
    ("/entities", "Entities"),
    ("/events", "Events"),
    ("/webhooks", "Webhooks"),
    ("/inbound", "Inbound"),
    ("/conflicts", "Conflicts"),
    ("/jobs", "Jobs"),
    ("/api-keys", "API keys"),
]
PAGE_SIZE = 50


def _hub(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


def _secure(request: Request) -> bool:
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"


def _set_cookie(response: Response, request: Request, token: str) -> None:
    response.set_cookie(
        COOKIE,
        token,
        max_age=SESSION_SECONDS,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
        path="/",
    )


def _local(target: str | None) -> str:
    """A redirect target only within the dashboard (``/x``, never ``//host`` or ``https://...``)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def render(request: Request, session: Session | None, template: str, code: int = 200, **context: Any) -> Response:
    response = templates.TemplateResponse(
        request,
        template,
        {"session": session, "nav": NAV, "path": request.url.path, **context},
        status_code=code,
    )
    response.headers.update(SECURITY_HEADERS)
    return response


async def _session(request: Request) -> Session | Response:
    """The request's session, or the response that gets one (sign-in, or a keyless session when auth is off)."""
    hub = _hub(request)
    session = await load_session(hub, request.cookies.get(COOKIE))
    if session is not None:
        return session
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if hub.settings.auth_required:
        return RedirectResponse(f"/signin?next={quote(here)}", status_code=303)
    token, _ = await open_session(hub, None)
    response = RedirectResponse(here, status_code=303)
    _set_cookie(response, request, token)
    return response


async def _form(request: Request, session: Session) -> dict[str, str]:
    """The posted form, once its CSRF token is the session's (else AuthenticationError: nothing runs)."""
    form = await request.form()
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    token = values.pop("csrf", None) or request.headers.get("x-csrf-token")
    if not session.csrf_ok(token):
        raise CsrfError("this form is stale or did not come from this dashboard: reload the page and try again")
    return values


def _failed(request: Request, session: Session, exc: HubwireError) -> Response:
    return render(request, session, "error.html", code=exc.status if 400 <= exc.status < 500 else 500, error=exc)


# -- sign-in ------------------------------------------------------------------------------------


@router.get("/signin")
async def signin_page(request: Request, next: str = "/") -> Response:
    return render(request, None, "signin.html", next=_local(next))


@router.post("/signin")
async def signin(request: Request) -> Response:
    form = await request.form()
    key, target = form.get("api_key"), _local(str(form.get("next") or "/"))
    try:
        token, _ = await open_session(_hub(request), str(key or "").strip() or None)
    except AuthenticationError as exc:
        return render(request, None, "signin.html", code=401, next=target, error=exc.message)
    response = RedirectResponse(target, status_code=303)
    _set_cookie(response, request, token)
    return response


@router.post("/signout")
async def signout(request: Request) -> Response:
    got = await _session(request)
    if isinstance(got, Response):
        return got
    try:
        await _form(request, got)
    except CsrfError as exc:
        return _failed(request, got, exc)
    await close_session(_hub(request), got)
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


# -- pages --------------------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
async def overview(request: Request) -> Response:
    got = await _session(request)
    if isinstance(got, Response):
        return got
    hub = _hub(request)
    integrations = await Integration.find({}, limit=1000)
    by_status = Counter(str(i.get("status") or "Unknown") for i in integrations)
    errored = [i for i in integrations if i.get("error")]
    async with hub.read() as conn:
        recent = await latest(conn, limit=15)
    return render(
        request,
        got,
        "overview.html",
        by_status=sorted(by_status.items()),
        total=len(integrations),
        errored=errored,
        charts=[await charts.runs_per_hour(hub), await charts.deliveries_per_hour(hub)],
        events=recent,
    )


@router.get("/integrations", response_class=HTMLResponse)
async def integrations_page(request: Request, status: str | None = None) -> Response:
    got = await _session(request)
    if isinstance(got, Response):
        return got
    found = await Integration.find({"status": status} if status else {}, limit=1000, sort="name")
    return render(request, got, "integrations.html", integrations=found, status_filter=status)


def mapped_nouns(hub: Hub, provider: str) -> list[str]:
    """The Nouns the provider takes field mappings for (none for a provider without them)."""
    if provider not in hub.providers:
        return []
    found = hub.providers.get(provider)
    return sorted(n for n in Noun.registry if found.mapped_noun(n) is not None)


async def _integration_context(request: Request, id: str) -> dict[str, Any]:
    hub = _hub(request)
    integration = await Integration.get(id)
    runs = await list_runs(hub, id, limit=20)
    # The page follows a sync over SSE while one is due or running (connect and "Sync now" queue one).
    due = any(r.status == "running" for r in runs) or await queue.is_live(hub, sync_key(id))
    mapped = mapped_nouns(hub, str(integration.get("provider") or ""))
    return {"integration": integration, "runs": runs, "running": due, "mapped_nouns": mapped}


@router.get("/integrations/{id}", response_class=HTMLResponse)
async def integration_page(request: Request, id: str) -> Response:
    return await _show(request, "integration.html", lambda: _integration_context(request, id))


@router.post("/integrations/{id}/sync")
async def integration_sync(request: Request, id: str) -> Response:
    return await _act(
        request, "POST", "/v1/integrations/{id}/sync", lambda form, _: Integration.sync(id), f"/integrations/{id}"
    )


@router.post("/integrations/{id}/disconnect")
async def integration_disconnect(request: Request, id: str) -> Response:
    return await _act(
        request,
        "POST",
        "/v1/integrations/{id}/disconnect",
        lambda form, _: Integration.disconnect(id),
        f"/integrations/{id}",
    )


@router.get("/catalogue", response_class=HTMLResponse)
async def catalogue(request: Request, reconnect: str | None = None) -> Response:
    got = await _session(request)
    if isinstance(got, Response):
        return got
    by_category: dict[str, list[Any]] = {}
    for p in _hub(request).providers.all():  # the hub's providers, those the SDK connects
        by_category.setdefault(p.category, []).append(p)
    target = None
    if reconnect:
        try:
            target = await Integration.get(reconnect)
        except NotFoundError as exc:
            return _failed(request, got, exc)
    return render(request, got, "catalogue.html", categories=sorted(by_category.items()), reconnect=target)


@router.post("/catalogue/{provider}/connect")
async def connect(request: Request, provider: str) -> Response:
    async def run(form: dict[str, str], _: Session) -> Any:
        params = {k: v for k, v in form.items() if v.strip()}
        target = params.pop("integration_id", None)
        if target:
            return await Integration.connect(target, provider=provider, **params)
        return await Integration.connect(provider=provider, **params)

    return await _act(request, "POST", "/v1/integrations/connect", run, lambda e: f"/integrations/{e.id}")


@router.post("/catalogue/{provider}/authorize")
async def authorize(request: Request, provider: str) -> Response:
    """The OAuth button: off to the provider (303), which sends the user back through the hub's
    callback (``/v1/oauth/callback``) to :func:`authorized`."""

    async def run(form: dict[str, str], session: Session) -> str:
        return await Integration.authorize(
            form.get("integration_id") or None,
            provider=provider,
            redirect_uri=str(request.url_for("oauth_callback")),
            return_to=str(request.url_for("dashboard_authorized")),
            api_key_id=session.key.id if session.key else None,
        )

    return await _act(request, "GET", "/v1/oauth/{provider}/authorize", run, lambda url: url)


@router.get("/oauth/done", name="dashboard_authorized", response_class=HTMLResponse)
async def authorized(
    request: Request, integration_id: str = "", error: str = "", error_description: str = ""
) -> Response:
    """Where the OAuth callback sends the user: the connected Integration, or what went wrong."""
    got = await _session(request)
    if isinstance(got, Response):
        return got
    if integration_id and not error:
        return RedirectResponse(f"/integrations/{quote(integration_id)}", status_code=303)
    why = ValidationError.single("code", error or "invalid_request", error_description or "the provider sent no code")
    return _failed(request, got, why)


@router.get("/entities", response_class=HTMLResponse)
async def nouns_page(request: Request) -> Response:
    got = await _session(request)
    if isinstance(got, Response):
        return got
    nouns = sorted(Noun.registry.values(), key=lambda n: n.name)
    return render(request, got, "nouns.html", nouns=nouns)


@router.get("/entities/{noun}", response_class=HTMLResponse)
async def entities_page(
    request: Request, noun: str, filter: str = "", sort: str = "", cursor: str | None = None
) -> Response:
    got = await _session(request)
    if isinstance(got, Response):
        return got
    declared = Noun.registry.get(noun)
    if declared is None:
        return _failed(request, got, NotFoundError(f"no Noun {noun!r}", noun=noun))
    try:
        parsed = json.loads(filter) if filter.strip() else {}
        if not isinstance(parsed, dict):
            raise ValueError
    except ValueError:
        error = ValidationError.single(
            "filter", "invalid_filter", 'the filter must be a JSON object, e.g. {"status": "Active"}'
        )
        return render(
            request, got, "entities.html", code=422, noun=declared, page=[], error=error, filter=filter, sort=sort
        )
    try:
        page = await declared.find(parsed, sort=sort or None, limit=PAGE_SIZE, cursor=cursor, coerce=True)
    except HubwireError as exc:
        return render(
            request,
            got,
            "entities.html",
            code=exc.status,
            noun=declared,
            page=[],
            error=exc,
            filter=filter,
            sort=sort,
        )
    columns = [f for f in declared.fields if f not in ("created_at", "updated_at")][:6]
    return render(request, got, "entities.html", noun=declared, page=page, columns=columns, filter=filter, sort=sort)


@router.get("/events", response_class=HTMLResponse)
async def events_page(request: Request, type: str = "") -> Response:
    got = await _session(request)
    if isinstance(got, Response):
        return got
    # A prefix names registered types: asked by name, the (type, seq) index serves it.
    names = [n for n in event_registry.names() if n.startswith(type)] if type else []
    async with _hub(request).read() as conn:
        found = await latest(conn, limit=PAGE_SIZE, types=names, type_prefix=type if type and not names else None)
    # New ones come over SSE (hubwire.dashboard.live: /events/live), on top, keeping PAGE_SIZE rows.
    return render(request, got, "events.html", events=found, type=type, keep=PAGE_SIZE)


async def _inbound_context(request: Request, status: str, integration: str, event_type: str) -> dict[str, Any]:
    hooks = await list_received(
        _hub(request),
        integration_id=integration or None,
        status=status or None,
        event_type=event_type or None,
        limit=PAGE_SIZE,
    )
    return {"hooks": hooks, "status_filter": status, "integration": integration, "event_type": event_type}


async def _received_context(request: Request, id: str) -> dict[str, Any]:
    return {"hook": (await get_received(_hub(request), id)).to_dict()}


@router.get("/inbound", response_class=HTMLResponse)
async def inbound_page(request: Request, status: str = "", integration: str = "", event_type: str = "") -> Response:
    return await _show(request, "inbound.html", lambda: _inbound_context(request, status, integration, event_type))


@router.get("/inbound/{id}", response_class=HTMLResponse)
async def received_page(request: Request, id: str) -> Response:
    return await _show(request, "received.html", lambda: _received_context(request, id))


@router.post("/inbound/{id}/replay")
async def received_replay(request: Request, id: str) -> Response:
    hub = _hub(request)
    return await _act(
        request, "POST", "/v1/hooks/received/{id}/replay", lambda form, _: replay(hub, id), f"/inbound/{id}"
    )


@router.get("/conflicts", response_class=HTMLResponse)
async def conflicts_page(request: Request, status: str = "open", integration: str = "", noun: str = "") -> Response:
    async def load() -> dict[str, Any]:
        rows = await list_conflicts(
            integration_id=integration or None,
            noun=noun or None,
            status=status or None,
            limit=PAGE_SIZE,
            hub=_hub(request),
        )
        return {"conflicts": rows, "status_filter": status, "integration": integration, "noun": noun}

    return await _show(request, "conflicts.html", load)


@router.get("/conflicts/{id:int}", response_class=HTMLResponse)
async def conflict_page(request: Request, id: int) -> Response:
    async def load() -> dict[str, Any]:
        return {"conflict": await get_conflict(id, hub=_hub(request))}

    return await _show(request, "conflict.html", load)


@router.post("/conflicts/{id:int}/resolve")
async def conflict_resolve(request: Request, id: int) -> Response:
    hub = _hub(request)

    async def run(form: dict[str, str], session: Session) -> Any:
        # Each parked field: keep the local value, take the remote one, or a value typed in (JSON when
        # it parses, as the CLI reads it). One decision per field, sent as values.
        conflict = await get_conflict(id, hub=hub)
        values: dict[str, Any] = {}
        for name in conflict.parked:
            choice = form.get(f"take_{name}", "")
            if choice in ("local", "remote"):
                values[name] = conflict.fields[name][choice]
            elif choice == "value":
                values[name] = _typed(form.get(f"value_{name}", ""))
        return await resolve_conflict(id, values=values, reason=form.get("reason") or None, by=session.who, hub=hub)

    return await _act(request, "POST", "/v1/conflicts/{id:int}/resolve", run, f"/conflicts/{id}")


def _typed(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


@router.get("/jobs", response_class=HTMLResponse)
async def jobs_page(request: Request, status: str | None = None) -> Response:
    got = await _session(request)
    if isinstance(got, Response):
        return got
    if status not in (None, "", "queued", "running", "done", "dead"):
        status = None
    rows = await queue.list_jobs(_hub(request), status=status or None, limit=PAGE_SIZE)
    return render(request, got, "jobs.html", jobs=rows, status_filter=status)


@router.post("/jobs/{id}/retry")
async def job_retry(request: Request, id: int) -> Response:
    hub = _hub(request)
    return await _act(request, "POST", "/v1/jobs/{id:int}/retry", lambda form, _: queue.retry_job(hub, id), "/jobs")


@router.get("/api-keys", response_class=HTMLResponse)
async def keys_page(request: Request) -> Response:
    got = await _session(request)
    if isinstance(got, Response):
        return got
    if not got.may("GET", "/v1/api-keys"):
        return _keys_refused(request, got)
    return render(request, got, "keys.html", keys=await list_api_keys(_hub(request)), created=None)


def _keys_refused(request: Request, session: Session) -> Response:
    try:
        session.require("GET", "/v1/api-keys")
    except HubwireError as exc:
        return _failed(request, session, exc)
    raise AssertionError("unreachable")


@router.post("/api-keys")
async def key_create(request: Request) -> Response:
    got = await _session(request)
    if isinstance(got, Response):
        return got
    hub = _hub(request)
    try:
        form = await _form(request, got)
        got.require("POST", "/v1/api-keys")
        record, key = await create_api_key(hub, form.get("name") or "dashboard", parse_scope(form.get("scope", "read")))
    except HubwireError as exc:
        return _failed(request, got, exc)
    # Shown once, on this page, never again (the page is not cached: Cache-Control no-store).
    return render(request, got, "keys.html", code=201, keys=await list_api_keys(hub), created=(record, key))


@router.post("/api-keys/{id}/revoke")
async def key_revoke(request: Request, id: str) -> Response:
    hub = _hub(request)
    return await _act(request, "DELETE", "/v1/api-keys/{id}", lambda form, _: revoke_api_key(hub, id), "/api-keys")


# -- actions ------------------------------------------------------------------------------------


async def _show(request: Request, template: str, load: Callable[[], Awaitable[dict[str, Any]]]) -> Response:
    """Render a page: the session, then ``load()`` its context; a HubwireError (an unknown id, a filter
    the list refuses) is the readable error page with its 4xx."""
    got = await _session(request)
    if isinstance(got, Response):
        return got
    try:
        context = await load()
    except HubwireError as exc:
        return _failed(request, got, exc)
    return render(request, got, template, **context)


async def _act(request: Request, method: str, rest_path: str, run: Any, then: Any) -> Response:
    """Run a form's action: session, CSRF, the scope of its REST twin, then ``run(form, session)``;
    303 to ``then``."""
    got = await _session(request)
    if isinstance(got, Response):
        return got
    try:
        form = await _form(request, got)
        got.require(method, rest_path)
        result = await run(form, got)
    except HubwireError as exc:
        return _failed(request, got, exc)
    target = then(result) if callable(then) else then
    return RedirectResponse(target, status_code=303)
