"""API keys guard every /v1 route; health and the OpenAPI document stay open."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

import hubwire
from hubwire.api.app import create_app
from hubwire.api.keys import LAST_USED_RESOLUTION, create_api_key, list_api_keys, revoke_api_key

PROBLEM = "application/problem+json"
GUARDED = ["/v1/deals", "/v1/integrations", "/v1/events", "/v1/jobs", "/v1/providers", "/v1/nouns", "/v1/api-keys"]


@pytest.mark.parametrize("path", GUARDED)
async def test_v1_needs_a_key(anon: httpx.AsyncClient, path: str) -> None:
    r = await anon.get(path)
    assert r.status_code == 401 and r.headers["content-type"] == PROBLEM
    assert r.headers["www-authenticate"] == "Bearer"
    assert r.json()["code"] == "unauthenticated"


@pytest.mark.parametrize(
    "header",
    ["Bearer hw_notakey_000", "Basic dXNlcjpwYXNz", "Bearer", "hw_plain_key_without_scheme"],
)
async def test_wrong_keys_are_refused(anon: httpx.AsyncClient, header: str) -> None:
    r = await anon.get("/v1/deals", headers={"Authorization": header})
    assert r.status_code == 401 and r.json()["code"] == "unauthenticated"
    assert "dXNlcjpwYXNz" not in r.text


async def test_a_valid_key_passes_and_a_revoked_one_stops(hub: hubwire.Hub, anon: httpx.AsyncClient) -> None:
    record, key = await create_api_key(hub, "ci")
    headers = {"Authorization": f"Bearer {key}"}
    assert (await anon.get("/v1/deals", headers=headers)).status_code == 200
    await revoke_api_key(hub, record.id)
    r = await anon.get("/v1/deals", headers=headers)
    assert r.status_code == 401 and key not in r.text


async def test_last_used_at_is_recorded_at_most_once_a_minute(hub: hubwire.Hub, anon: httpx.AsyncClient) -> None:
    now = [1_800_000_000.0]
    hub.clock = lambda: now[0]
    record, key = await create_api_key(hub, "ops")
    headers = {"Authorization": f"Bearer {key}"}

    async def last_used() -> float | None:
        (listed,) = [k for k in await list_api_keys(hub) if k.id == record.id]
        return listed.last_used_at

    assert await last_used() is None
    assert (await anon.get("/v1/deals", headers=headers)).status_code == 200
    assert await last_used() == now[0]
    first = now[0]
    now[0] += LAST_USED_RESOLUTION - 1
    assert (await anon.get("/v1/deals", headers=headers)).status_code == 200
    assert await last_used() == first  # within the resolution: no write
    now[0] += 1
    assert (await anon.get("/v1/deals", headers=headers)).status_code == 200
    assert await last_used() == now[0]


@pytest.mark.parametrize("path", ["/healthz", "/openapi.json", "/docs"])
async def test_open_routes(anon: httpx.AsyncClient, path: str) -> None:
    r = await anon.get(path)
    assert r.status_code == 200, r.text
    if path == "/healthz":
        assert r.json() == {"status": "ok"}


async def test_auth_disabled_on_loopback(hub: hubwire.Hub, deal: hubwire.Noun) -> None:
    open_hub = hubwire.Hub(hub.settings, auth_required=False, providers=hub.providers)
    app: FastAPI = create_app(open_hub)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c,
    ):
        r = await c.post("/v1/deals", json={"name": "no key needed"})
        assert r.status_code == 201, r.text
    await open_hub.close()


def test_auth_cannot_be_disabled_off_loopback(hub: hubwire.Hub) -> None:
    exposed = hubwire.Hub(hub.settings, auth_required=False, host="0.0.0.0")
    with pytest.raises(hubwire.ConfigurationError):
        create_app(exposed)
    # With authentication on, any host is fine.
    create_app(hubwire.Hub(hub.settings, host="0.0.0.0"))
