"""The FastAPI application: lifespan (hub, embedded workers), the current hub per request, routers.

    app = create_app(hub, workers=1)
    uvicorn.run(app, host=hub.settings.host, port=hub.settings.port)

The hub is made current for every request by :class:`HubMiddleware` (a ContextVar set during the
lifespan does not reach request handlers). Workers, when asked for, run in the server's event
loop and stop cleanly, finishing the jobs in flight, when the server shuts down.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import structlog
from fastapi import APIRouter, Depends, FastAPI
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Receive, Scope, Send

import hubwire
from hubwire.api.auth import require_api_key
from hubwire.api.limits import RequestLimits
from hubwire.api.openapi import document_problems, document_security
from hubwire.api.problems import install_problem_handlers
from hubwire.api.routes import COLLECT_ROUTERS, PUBLIC_ROUTERS, ROUTERS
from hubwire.api.routes.collect import CollectCors
from hubwire.api.routes.hooks import HOOKS_PREFIX
from hubwire.api.routes.nouns import noun_router
from hubwire.dashboard import mount_dashboard
from hubwire.hub import Hub
from hubwire.jobs import Worker
from hubwire.mcp.http import mount_mcp
from hubwire.net.redact import redact_text
from hubwire.nouns.noun import Noun
from hubwire.settings import check_bind

__all__ = ["HubMiddleware", "create_app", "declared_routes", "mount_nouns", "noun_base"]

log = structlog.get_logger("hubwire.api")


class HubMiddleware:
    """Make ``hub`` the current Hub while a request is handled."""

    def __init__(self, app: ASGIApp, hub: Hub) -> None:
        self.app = app
        self.hub = hub

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        token = self.hub.activate()
        try:
            await self.app(scope, receive, send)
        finally:
            token.var.reset(token)


def _report_worker_exit(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("api.worker_crashed", worker=task.get_name(), error=redact_text(repr(task.exception())))


def noun_base(noun: Noun, taken: set[tuple[str, str]]) -> str:
    """``/v1/{plural}``, or ``/v1/nouns/{plural}`` when a specific router lists that path (e.g. the event log)."""
    base = f"/v1/{noun.plural}"
    return f"/v1/nouns/{noun.plural}" if ("GET", base) in taken else base


def declared_routes(routers: list[APIRouter]) -> set[tuple[str, str]]:
    """The (method, path) pairs the given routers declare."""
    out: set[tuple[str, str]] = set()
    for router in routers:
        for route in router.routes:
            if isinstance(route, APIRoute):
                out.update((m, route.path) for m in route.methods or ())
    return out


def create_app(
    hub: Hub,
    *,
    workers: int = 0,
    worker_concurrency: int = 32,
    close_hub: bool = False,
) -> FastAPI:
    """The REST API of ``hub``. ``workers`` > 0 runs that many job workers in the server's loop."""
    check_bind(hub.settings, hub.settings.host)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        mount_nouns(app)  # Nouns declared between create_app and start-up are served too
        await hub.start()
        stop = asyncio.Event()
        context = contextvars.copy_context()
        context.run(hub.activate)
        tasks = [
            asyncio.create_task(
                Worker(hub, concurrency=worker_concurrency).run(stop), name=f"hubwire-worker-{i}", context=context
            )
            for i in range(workers)
        ]
        for task in tasks:
            task.add_done_callback(_report_worker_exit)
        app.state.workers = tasks
        try:
            yield
        finally:
            stop.set()
            results = await asyncio.gather(*tasks, return_exceptions=True)
            for r in results:
                if isinstance(r, BaseException) and not isinstance(r, asyncio.CancelledError):
                    raise r
            if close_hub:
                await hub.close()

    app = FastAPI(
        title="Hubwire",
        version=hubwire.__version__,
        description="External services as typed entities (Nouns) with verbs, events and a lifecycle.",
        lifespan=lifespan,
    )
    app.state.hub = hub
    app.state.event_streams = 0
    install_problem_handlers(app)
    app.add_middleware(HubMiddleware, hub=hub)
    app.add_middleware(CollectCors, settings=hub.settings)
    # Outermost: a request too large is refused before anything else runs. Providers' webhooks have their own limit.
    app.add_middleware(RequestLimits, body_limits={HOOKS_PREFIX: hub.settings.inbound_max_body_bytes})
    # Routes are tried in order: the busiest first (a site's beacons to /v1/collect), so that it
    # does not pay for trying every other router on each request. Its routes are the app's own
    # (each checks its collect key itself): FastAPI dispatches to an included router's routes
    # through a layer of its own, which cost ~18 us of each request.
    for router in COLLECT_ROUTERS:
        app.router.routes.extend(router.routes)
    for router in PUBLIC_ROUTERS:
        app.include_router(router)
    authenticated = [Depends(require_api_key)]
    for router in ROUTERS:
        app.include_router(router, dependencies=authenticated)
    app.state.nouns_served = set()
    mount_nouns(app)
    generate = app.openapi
    public = {path for _, path in declared_routes(PUBLIC_ROUTERS)}
    query_key = {path for _, path in declared_routes(COLLECT_ROUTERS)}

    def openapi() -> dict[str, Any]:
        # FastAPI caches the document in app.openapi_schema (mount_nouns clears it): extend each new one once.
        if app.openapi_schema is None:
            app.openapi_schema = document_security(document_problems(generate(), public), public, query_key)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    mount_mcp(app, hub)
    mount_dashboard(app)
    return app


def mount_nouns(app: FastAPI) -> None:
    """Serve every declared Noun not served yet (idempotent; the OpenAPI document follows)."""
    served: set[str] = app.state.nouns_served
    new = sorted((n for n in Noun.registry.values() if n.name not in served), key=lambda n: n.name)
    if not new:
        return
    taken = declared_routes([*PUBLIC_ROUTERS, *ROUTERS, *COLLECT_ROUTERS])
    for noun in new:
        app.include_router(
            noun_router(noun, taken, base=noun_base(noun, taken)), dependencies=[Depends(require_api_key)]
        )
        served.add(noun.name)
    app.openapi_schema = None
