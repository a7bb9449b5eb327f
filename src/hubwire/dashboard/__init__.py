"""The web dashboard: what a person uses to connect, watch and repair Hubwire without writing code.

Server-rendered (Jinja2 + htmx, one stylesheet, no build step), served by ``hubwire serve`` at
``/`` beside the REST API: sign in with an API key (it becomes an HttpOnly, SameSite=Strict session
cookie; :mod:`.sessions`), then every page reads and every form acts with that key's scope.
The pages are in :mod:`.pages`, :mod:`.webhooks` and :mod:`.mappings`, the live parts (SSE) in :mod:`.live`, all on
one router; :func:`mount_dashboard` adds it to an app.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from hubwire.dashboard import live, mappings, webhooks
from hubwire.dashboard.pages import router, templates
from hubwire.store.events import iso

__all__ = ["live", "mappings", "mount_dashboard", "webhooks"]

templates.env.filters["iso"] = iso


def mount_dashboard(app: FastAPI) -> None:
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
