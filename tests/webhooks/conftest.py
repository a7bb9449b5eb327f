"""Fixtures for outbound webhooks: a hub that may dial loopback, on a fake clock; loopback receivers.

The receiver is a real aiohttp server on 127.0.0.1 (port 0). Its paths answer as their names say:
``/ok`` 200, ``/fail`` 500, ``/gone`` 410, ``/busy`` 429 with ``Retry-After: 7``, ``/busy-until/<unix time>``
429 with ``Retry-After`` that time as an HTTP date, ``/busy-saying/<text>`` 429 with ``Retry-After: <text>``,
``/unavailable`` 503 with ``Retry-After: 2``,
``/redirect`` 302 to ``/ok``, ``/hang`` sleeps past any timeout, ``/close`` drops the connection without
answering, ``/slow`` answers 200 after 0.05 s.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from hubwire.connectors.registry import ProviderRegistry
from hubwire.hub import Hub
from tests.conftest import make_hub
from tests.fakes import FakeClock, deal_noun


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    base: str
    requests: list[Received] = field(default_factory=list)
    inflight: int = 0
    max_inflight: int = 0

    def url(self, path: str) -> str:
        return f"{self.base}{path}"

    def on(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.path == path]


RECEIVER = web.AppKey("receiver", Receiver)


async def _handle(request: web.Request) -> web.StreamResponse:
    rec = request.app[RECEIVER]
    body = await request.read()
    rec.requests.append(Received(request.path, dict(request.headers), body))
    rec.inflight += 1
    rec.max_inflight = max(rec.max_inflight, rec.inflight)
    try:
        path = request.path
        if path == "/fail":
            return web.Response(status=500, text="internal error at the receiver")
        if path == "/gone":
            return web.Response(status=410, text="gone")
        if path == "/busy":
            return web.Response(status=429, headers={"Retry-After": "7"})
        if path.startswith("/busy-until/"):
            until = formatdate(float(path.rsplit("/", 1)[1]), usegmt=True)
            return web.Response(status=429, headers={"Retry-After": until})
        if path.startswith("/busy-saying/"):
            return web.Response(status=429, headers={"Retry-After": path.rsplit("/", 1)[1]})
        if path == "/unavailable":
            return web.Response(status=503, headers={"Retry-After": "2"})
        if path == "/redirect":
            raise web.HTTPFound(location="/ok")
        if path == "/hang":
            await asyncio.sleep(30)
        if path == "/close":
            assert request.transport is not None
            request.transport.close()
            return web.Response(status=200)
        if path == "/slow":
            await asyncio.sleep(0.05)
        if path == "/big":
            return web.Response(status=200, text="x" * 10000)
        return web.Response(status=200, text="ok")
    finally:
        rec.inflight -= 1


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    app = web.Application()
    rec = Receiver("")
    app[RECEIVER] = rec
    app.router.add_route("POST", "/{tail:.*}", _handle)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    rec.base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield rec
    await runner.cleanup()


@pytest.fixture
def refused_url() -> str:
    """A loopback URL where nothing listens."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}/nothing"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def whub(db_url: str, tmp_path: Path, providers: ProviderRegistry, clock: FakeClock) -> AsyncIterator[Hub]:
    """A hub with a fake clock that may dial loopback receivers; it serves Deal, so endpoints may subscribe to it."""
    deal_noun()
    async with make_hub(db_url, tmp_path, providers, clock=clock, allow_private_networks=True) as h:
        yield h


def body_of(r: Received) -> dict[str, Any]:
    import json

    data: dict[str, Any] = json.loads(r.body)
    return data
