"""Where a provider's credentials go: fixed when they are entered, and what comes back is never echoed.

The guard is open in this folder (the simulators listen on loopback): these tests are about the
reconnect rule and the provider's words, the guard itself is tested in tests/net.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from hubwire import Integration, ProviderInvalidRequest, ValidationError
from hubwire.connectors.registry import ProviderRegistry
from hubwire.hub import Hub
from hubwire.simulators.stripe import StripeSimulator
from tests.api.conftest import rest_client
from tests.conftest import make_hub

KEY = "sk_test_hubwire"


@dataclass
class Hostile:
    """A server on loopback answering every request with ``status`` and ``body``, recording the paths."""

    url: str = ""
    status: int = 400
    body: str = ""
    content_type: str = "text/html"
    seen: list[str] = field(default_factory=list)


@pytest.fixture
async def hostile() -> AsyncIterator[Hostile]:
    h = Hostile()

    async def answer(request: web.Request) -> web.Response:
        h.seen.append(request.path)
        return web.Response(status=h.status, text=h.body, content_type=h.content_type)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    h.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield h
    await runner.cleanup()


@pytest.fixture
async def rest(hub: Hub) -> AsyncIterator[httpx.AsyncClient]:
    async with rest_client(hub) as c:
        yield c


async def test_an_update_cannot_move_the_credentials_a_reconnect_can(
    hub: Hub, stripe_sim: StripeSimulator, hostile: Hostile, rest: httpx.AsyncClient
) -> None:
    integ = await Integration.connect(provider="stripe", api_key=KEY, api_base_url=stripe_sim.url)
    exfil = f"{hostile.url}/exfil"

    with pytest.raises(ValidationError) as exc:
        await Integration.update(integ.id, api_base_url=exfil)
    assert exc.value.status == 422 and exc.value.errors[0].code == "reconnect_required"
    assert "reconnect" in exc.value.message and "credentials" in exc.value.message

    r = await rest.patch(f"/v1/integrations/{integ.id}", json={"api_base_url": exfil})
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["errors"][0]["code"] == "reconnect_required", r.json()
    r = await rest.patch(f"/v1/integrations/{integ.id}", json={"apiBaseUrl": exfil})
    assert r.status_code == 422, r.text

    # other fields still update, and a sync still goes where the credentials were entered
    assert (await Integration.update(integ.id, name="Billing"))["name"] == "Billing"
    await Integration.sync(integ.id, wait=True)
    assert (await Integration.get(integ.id))["api_base_url"] == stripe_sim.url
    assert hostile.seen == []

    # a reconnect, with the credentials, may move them (and is checked like a connect)
    moved = f"http://localhost:{stripe_sim.url.rsplit(':', 1)[1]}"
    again = await Integration.connect(integ.id, api_key=KEY, api_base_url=moved)
    assert again["api_base_url"] == moved and again["status"] == "Connected"


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        (
            "text/html",
            "<html><body><h1>Admin</h1><script>alert(1)</script>\x1b[31minternal\x00 token "
            + KEY
            + " "
            + "x" * 2000
            + "</body></html>",
        ),
        ("application/json", '{"error": {"message": "bad\\u0007 <b>thing</b> ' + KEY + " " + "y" * 2000 + '"}}'),
    ],
)
async def test_a_providers_error_body_is_never_echoed(
    hub: Hub, hostile: Hostile, rest: httpx.AsyncClient, content_type: str, body: str
) -> None:
    hostile.body, hostile.content_type = body, content_type
    with pytest.raises(ProviderInvalidRequest) as exc:
        await Integration.connect(provider="stripe", api_key=KEY, api_base_url=hostile.url)
    assert await Integration.find({"provider": "stripe"}) == []  # a refused new connect makes nothing
    # A refused reconnect of an existing Integration records the error on it.
    integ = await Integration.create(name="Stripe", provider="stripe", slug="stripe")
    r = await rest.post(f"/v1/integrations/{integ.id}/connect", json={"api_key": KEY, "api_base_url": hostile.url})
    assert r.status_code == 400, r.text
    stored = (await Integration.get(integ.id))["error"]
    for said in (exc.value.message, r.json()["detail"], stored):
        assert len(said) <= 200, said
        assert KEY not in said and "<" not in said and ">" not in said, said
        assert not any(ord(c) < 32 or ord(c) == 127 for c in said), said
    assert hostile.seen  # it was asked (the guard is open here): only its answer was kept out


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_a_sync_by_a_hub_with_the_guard_closed_never_dials_a_stored_loopback_base_url(
    hub: Hub, stripe_sim: StripeSimulator, db_url: str, tmp_path: Path, providers: ProviderRegistry, host: str
) -> None:
    """Dial time for providers: connected while the guard was open, synced once it is closed."""
    assert hub.settings.allow_private_networks
    integ = await Integration.connect(
        provider="stripe", api_key=KEY, api_base_url=stripe_sim.url.replace("127.0.0.1", host)
    )
    asked = len(stripe_sim.requests)
    closed = make_hub(db_url, tmp_path, providers, allow_private_networks=False)
    async with closed:
        with pytest.raises(ValidationError) as exc:
            await Integration.sync(integ.id, wait=True)
        assert exc.value.errors[0].code == "ssrf_blocked" and "a loopback address" in exc.value.message
        assert "a loopback address" in (await Integration.get(integ.id))["error"]
    assert len(stripe_sim.requests) == asked
