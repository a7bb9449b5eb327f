"""``hubwire serve``: the REST API, dashboard and embedded workers in one process (uvicorn).

The Hub is built and migrated before the server binds; authentication can only be disabled
on loopback (``check_bind``). The URL is printed once the socket is listening (so ``--port 0``
prints the real port), with how to get an API key when none exists yet. uvicorn's access log
writes a request's path with the values of its query masked (a key put in ``?api_key=`` stays out).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import parse_qsl, urlencode

import typer

from hubwire.api.keys import list_api_keys
from hubwire.cli.output import say
from hubwire.cli.runtime import import_modules, redacted_url, tune_garbage_collector
from hubwire.hub import Hub
from hubwire.net.redact import REDACTED
from hubwire.settings import Settings, check_bind
from hubwire.store.engine import migrate

__all__ = ["QueryMasking", "serve"]


class QueryMasking(logging.Filter):
    """Masks the query values of uvicorn's access lines: ``GET /v1/x?api_key=[REDACTED]&limit=[REDACTED]``."""

    def filter(self, record: logging.LogRecord) -> bool:
        # uvicorn logs: '%s - "%s %s HTTP/%s" %d' % (client, method, path with query, version, status)
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str) and "?" in args[2]:
            path, query = args[2].split("?", 1)
            masked = urlencode([(k, REDACTED) for k, _ in parse_qsl(query, keep_blank_values=True)], safe="[]")
            record.args = (*args[:2], f"{path}?{masked}" if masked else path, *args[3:])
        return True


def mask_access_log() -> None:
    """Install :class:`QueryMasking` on uvicorn's access logger (once)."""
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, QueryMasking) for f in access.filters):
        access.addFilter(QueryMasking())


def serve(
    host: str = typer.Option(None, "--host", help="Address to bind (default HUBWIRE_HOST or 127.0.0.1)."),
    port: int = typer.Option(None, "--port", help="Port (default HUBWIRE_PORT or 8000; 0 picks a free one)."),
    workers: int = typer.Option(1, "--workers", min=0, help="Embedded job workers (0: run `hubwire worker` apart)."),
    concurrency: int = typer.Option(None, "--concurrency", min=1, help="Jobs in flight per worker (default 32)."),
    imports: list[str] = typer.Option([], "--import", help="Import MODULE first (repeatable)."),
) -> None:
    """Serve the REST API (and run embedded workers)."""
    import_modules(imports)
    settings = Settings()
    bind = host or settings.host
    check_bind(settings, bind)
    try:
        asyncio.run(
            _serve(
                settings,
                bind,
                settings.port if port is None else port,
                workers,
                concurrency or settings.worker_concurrency,
            )
        )
    except KeyboardInterrupt:
        # uvicorn shut down gracefully on Ctrl-C, then re-raised the signal it captured.
        say("stopped", err=True)


async def _serve(settings: Settings, host: str, port: int, workers: int, concurrency: int) -> None:
    import uvicorn

    from hubwire.api.app import create_app

    await migrate(settings.database_url)
    hub = Hub(settings, auto_migrate=False, host=host, port=port)
    hub.activate()
    try:
        await hub.start()
        has_key = any(k.revoked_at is None for k in await list_api_keys(hub))
        app = create_app(hub, workers=workers, worker_concurrency=concurrency)
        config = uvicorn.Config(app, host=host, port=port, log_level=settings.log_level.lower(), lifespan="on")
        mask_access_log()  # after Config: it (re)configures uvicorn's loggers
        server = uvicorn.Server(config)
        tune_garbage_collector()
        task = asyncio.create_task(server.serve())
        while not server.started and not task.done():  # noqa: ASYNC110 (uvicorn exposes a flag, no event)
            await asyncio.sleep(0.02)
        if server.started:
            _announce(settings, server, host, port, workers, has_key)
        await task
    finally:
        await hub.close()


def _announce(settings: Settings, server: Any, host: str, port: int, workers: int, has_key: bool) -> None:
    for s in getattr(server, "servers", []):
        for sock in s.sockets:
            port = sock.getsockname()[1]
            break
    shown = f"[{host}]" if ":" in host else host
    say(f"Hubwire on http://{shown}:{port}  (database {redacted_url(settings.database_url)}, workers {workers})")
    if not settings.auth_required:
        say("authentication is DISABLED (HUBWIRE_AUTH=disabled): loopback only")
    elif not has_key:
        say("no API key yet: create one with `hubwire apikey create`")
