"""Fixtures of the dashboard tests: the app in process and a signed-in browser-like client."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

import hubwire
from hubwire.api.app import create_app
from hubwire.api.keys import create_api_key
from hubwire.connectors.registry import ProviderRegistry
from tests.conftest import make_hub
from tests.fakes import deal_noun


@pytest.fixture
async def hub(db_url: str, tmp_path: Path, providers: ProviderRegistry) -> AsyncIterator[hubwire.Hub]:
    """A hub that may dial loopback (the simulators and receivers the tests start), serving a Deal."""
    deal_noun()
    async with make_hub(db_url, tmp_path, providers, allow_private_networks=True) as h:
        yield h


@pytest.fixture
async def app(hub: hubwire.Hub) -> AsyncIterator[FastAPI]:
    application = create_app(hub)
    async with application.router.lifespan_context(application):
        yield application


def browser(app: FastAPI) -> httpx.AsyncClient:
    """A client that keeps cookies and does not follow redirects (the tests look at each)."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hubwire.test")


async def sign_in(client: httpx.AsyncClient, key: str) -> str:
    """Sign ``client`` in with ``key``; returns the session's CSRF token (read off a page, as a browser would)."""
    r = await client.post("/signin", data={"api_key": key, "next": "/"})
    assert r.status_code == 303, r.text
    return csrf_of((await client.get("/")).text)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "the page has no CSRF field"
    return found.group(1)


@pytest.fixture
async def admin(hub: hubwire.Hub, app: FastAPI) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """A signed-in admin browser and its CSRF token."""
    _, key = await create_api_key(hub, "admin-browser", "admin")
    async with browser(app) as c:
        yield c, await sign_in(c, key)
