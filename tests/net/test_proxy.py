"""Proxy variables in the environment do not carry a request past the SSRF guard."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from hubwire import ValidationError
from hubwire.net.http import HttpClient, RetryPolicy
from hubwire.net.ssrf import AddressPolicy


@pytest.fixture
async def proxy() -> AsyncIterator[list[str]]:
    """An HTTP proxy on 127.0.0.2 that records what it was asked to fetch (and fetches nothing)."""
    asked: list[str] = []

    async def forward(request: web.Request) -> web.Response:
        asked.append(str(request.url))
        return web.Response(text="fetched by the proxy")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", forward)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.2", 0).start()
    asked.append(f"http://127.0.0.2:{runner.addresses[0][1]}")  # the proxy's own URL, first
    yield asked
    await runner.cleanup()


async def test_a_proxy_the_policy_allows_does_not_reach_a_refused_address(
    proxy: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy_url = proxy.pop(0)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.setenv(name, proxy_url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    # Only the proxy's address may be dialled; the metadata-style target may not.
    client = HttpClient(
        policy=AddressPolicy(allowed=(ipaddress.ip_network("127.0.0.2/32"),)), retry=RetryPolicy(attempts=1)
    )
    try:
        with pytest.raises(ValidationError) as exc:
            await client.request("GET", "http://127.0.0.1:9/latest/meta-data/")
        assert exc.value.errors[0].code == "ssrf_blocked"
    finally:
        await client.close()
    assert proxy == []
