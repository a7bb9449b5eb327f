"""Fixtures of the REST API tests: a test provider, a Deal Noun, the app, an API key and clients.

Most tests drive the app in process (httpx ``ASGITransport``, lifespan run explicitly); the
end-to-end ones run it under uvicorn on 127.0.0.1 with an ephemeral port.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

import hubwire
from hubwire.api.app import create_app
from hubwire.api.keys import create_api_key
from hubwire.connectors.registry import ProviderRegistry
from tests.fakes import ApiKeyProvider, deal_noun

ACME_SECRET = "acme-secret-Zq81xPw7LmN3"


class AcmeProvider(ApiKeyProvider):
    key = ACME_SECRET
    records = 7
    refusal = "{slug} refused the API key"  # a key it quoted would come back over REST: see tests/domains


def api_deal() -> hubwire.Noun:
    """The shared Deal, with a field of each kind the REST layer parses (unique, integer, boolean, list, JSON)."""
    extra = {"code": "string##", "seats": "integer", "won": "boolean", "tags": "string[]", "meta": "json"}
    return deal_noun({**extra, "reopen": "Open"}, description="A sales opportunity.")


@pytest.fixture
def acme(providers: ProviderRegistry) -> AcmeProvider:
    p = AcmeProvider()
    providers.register(p)
    return p


@pytest.fixture
def deal() -> hubwire.Noun:
    return api_deal()


@pytest.fixture
async def app(hub: hubwire.Hub, acme: AcmeProvider, deal: hubwire.Noun) -> AsyncIterator[FastAPI]:
    application = create_app(hub)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def api_key(hub: hubwire.Hub) -> str:
    _, key = await create_api_key(hub, "tests")
    return key


@pytest.fixture
async def anon(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client without credentials."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hubwire.test") as c:
        yield c


@pytest.fixture
async def client(app: FastAPI, api_key: str) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {api_key}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://hubwire.test", headers=headers) as c:
        yield c


@contextlib.asynccontextmanager
async def rest_client(hub: hubwire.Hub) -> AsyncIterator[httpx.AsyncClient]:
    """A client of ``hub``'s REST app in process (lifespan run) holding a new admin API key."""
    app = create_app(hub)
    _, key = await create_api_key(hub, "tests")
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {key}"}
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://hubwire.test", headers=headers) as c,
    ):
        yield c


@contextlib.asynccontextmanager
async def serve(application: FastAPI) -> AsyncIterator[str]:
    """Run ``application`` under uvicorn on 127.0.0.1 (ephemeral port); yields its base URL."""
    # Keep-alive well above uvicorn's 5 s: on a loaded machine a pooled connection can sit idle that
    # long, and a request sent as the server closes it fails with a ReadError (a race of HTTP/1.1
    # keep-alive, not of Hubwire; providers retry such a request).
    config = uvicorn.Config(
        application, host="127.0.0.1", port=0, log_level="warning", lifespan="on", timeout_keep_alive=60
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(10):
            while not server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)
