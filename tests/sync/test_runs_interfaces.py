"""Sync runs are listed over REST (``GET /v1/integrations/{id}/runs``) and by ``hubwire runs``."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

import hubwire
from hubwire import Integration
from hubwire.api.app import create_app
from hubwire.connectors.registry import ProviderRegistry
from tests.fakes import GOOD_KEY, ApiKeyProvider


@pytest.fixture
def acme(providers: ProviderRegistry) -> ApiKeyProvider:
    p = ApiKeyProvider()
    p.records = 7
    providers.register(p)
    return p


async def test_runs_over_rest(hub: hubwire.Hub, acme: ApiKeyProvider) -> None:
    integ = await Integration.connect(provider="acme", api_key=GOOD_KEY)
    await Integration.sync(integ.id, wait=True)
    acme.fail_sync = hubwire.ProviderUnavailable("acme is down")
    with pytest.raises(hubwire.ProviderUnavailable):
        await Integration.sync(integ.id, wait=True)
    app = create_app(hub)
    hub.settings = type(hub.settings)(**{**hub.settings.__dict__, "auth_required": False})
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hubwire.test") as client:
            res = await client.get(f"/v1/integrations/{integ.id}/runs")
            missing = await client.get("/v1/integrations/integration_nope1234/runs")
            bad = await client.get(f"/v1/integrations/{integ.id}/runs?limit=0")
    assert res.status_code == 200, res.text
    runs: list[dict[str, Any]] = res.json()["data"]
    assert [r["status"] for r in runs] == ["failed", "succeeded"]
    assert runs[1]["records"] == 7 and runs[1]["started_at"].endswith("Z")
    assert "acme is down" in runs[0]["error"]
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("application/problem+json")
    assert bad.status_code == 422
