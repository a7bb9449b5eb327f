"""``POST /v1/collect``: collect keys, single and batch bodies, CORS, limits; collected events forwarded."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from hubwire import Integration, Worker
from hubwire.analytics import list_batches
from hubwire.api.app import create_app
from hubwire.api.keys import create_api_key, revoke_api_key, verify_api_key
from hubwire.api.routes.collect import CollectLimiter
from hubwire.api.scopes import Scope
from hubwire.connectors.registry import ProviderRegistry
from hubwire.errors import AuthenticationError
from hubwire.hub import Hub
from hubwire.simulators.posthog import PostHogSimulator
from hubwire.simulators.posthog.server import DEFAULT_PROJECT_KEY
from tests.conftest import make_hub
from tests.fakes import FakeClock

ORIGIN = "https://shop.example.com"


@pytest.fixture
async def chub(db_url: str, tmp_path: Path, providers: ProviderRegistry, clock: FakeClock) -> AsyncIterator[Hub]:
    async with make_hub(
        db_url,
        tmp_path,
        providers,
        clock=clock,
        allow_private_networks=True,
        collect_allowed_origins=ORIGIN,
        collect_rate_limit=50,
        collect_max_events=40,
    ) as h:
        yield h


@pytest.fixture
async def capp(chub: Hub) -> AsyncIterator[FastAPI]:
    app = create_app(chub)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
def client_of(capp: FastAPI) -> Callable[..., httpx.AsyncClient]:
    def make(**headers: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=capp), base_url="http://hubwire.test", headers=headers
        )

    return make


async def test_collected_events_are_forwarded(
    chub: Hub, clock: FakeClock, client_of: Callable[..., httpx.AsyncClient]
) -> None:
    record, key = await create_api_key(chub, "site", Scope.COLLECT)
    assert key.startswith("pk_") and record.scope is Scope.COLLECT
    async with PostHogSimulator() as ph, client_of() as c:
        await Integration.connect(
            provider="analytics", destinations={"posthog": {"api_key": DEFAULT_PROJECT_KEY, "host": ph.url}}
        )
        one = await c.post(
            f"/v1/collect?key={key}", json={"event": "signup", "distinct_id": "u1", "properties": {"plan": "pro"}}
        )
        assert one.status_code == 202 and one.json() == {"accepted": 1}
        # A beacon: text/plain, the key in the query; a batch; a server with the key as a bearer.
        batch = json.dumps(
            {
                "batch": [
                    {"event": "page_view", "distinct_id": "a1", "id": "abc"},
                    {"event": "click", "distinct_id": "a1"},
                ]
            }
        )
        two = await c.post(f"/v1/collect?key={key}", content=batch, headers={"Content-Type": "text/plain"})
        assert two.status_code == 202 and two.json() == {"accepted": 2}
        three = await c.post(
            "/v1/collect",
            json=[{"event": "paid", "distinct_id": "u1", "timestamp": "2026-01-02T03:04:05Z"}],
            headers={"Authorization": f"Bearer {key}"},
        )
        assert three.status_code == 202
        clock.advance(5)
        await Worker(chub).drain()
        assert sorted(e.event for e in ph.events) == ["click", "page_view", "paid", "signup"]
        signup = next(e for e in ph.events if e.event == "signup")
        assert signup.properties["plan"] == "pro" and signup.distinct_id == "u1"
        assert next(e for e in ph.events if e.event == "paid").timestamp.startswith("2026-01-02T03:04:05")
        assert [b.status for b in await list_batches(chub)] == ["succeeded"]


async def test_a_collect_key_can_only_collect_and_others_cannot_collect(
    chub: Hub, client_of: Callable[..., httpx.AsyncClient]
) -> None:
    _, collect_key = await create_api_key(chub, "site", Scope.COLLECT)
    _, write_key = await create_api_key(chub, "w", Scope.WRITE)
    _, admin_key = await create_api_key(chub, "a", Scope.ADMIN)
    event = {"event": "x", "distinct_id": "d"}
    async with client_of() as c:
        assert (await c.post("/v1/collect", json=event)).status_code == 401
        refused = await c.post(f"/v1/collect?key={write_key}", json=event)
        assert refused.status_code == 403 and refused.json()["required_scope"] == "collect"
        assert (await c.post(f"/v1/collect?key={admin_key}", json=event)).status_code == 202
        for method, path in [("GET", "/v1/events"), ("GET", "/v1/analytics/deliveries"), ("POST", "/v1/deals")]:
            r = await c.request(method, path, headers={"Authorization": f"Bearer {collect_key}"})
            assert r.status_code == 403 and r.json()["scope"] == "collect", (method, path)
        # A key in the query works for collect only.
        assert (await c.get(f"/v1/events?key={admin_key}")).status_code == 401
        log = await c.get("/v1/analytics/deliveries", headers={"Authorization": f"Bearer {admin_key}"})
        assert log.status_code == 200 and log.json()["data"] == []


async def test_cors_allows_the_listed_origins_only(chub: Hub, client_of: Callable[..., httpx.AsyncClient]) -> None:
    _, key = await create_api_key(chub, "site", Scope.COLLECT)
    async with client_of() as c:
        pre = await c.options("/v1/collect", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"})
        assert pre.status_code == 204 and pre.headers["access-control-allow-origin"] == ORIGIN
        ok = await c.post(f"/v1/collect?key={key}", json={"event": "x", "distinct_id": "d"}, headers={"Origin": ORIGIN})
        assert ok.status_code == 202 and ok.headers["access-control-allow-origin"] == ORIGIN
        bad = await c.post(
            f"/v1/collect?key={key}",
            json={"event": "x", "distinct_id": "d"},
            headers={"Origin": "https://evil.example"},
        )
        assert bad.status_code == 403 and bad.json()["code"] == "origin_not_allowed"
        assert "access-control-allow-origin" not in bad.headers
        # Errors to an allowed origin carry the headers too, so the page can read them.
        invalid = await c.post(f"/v1/collect?key={key}", json={"event": ""}, headers={"Origin": ORIGIN})
        assert invalid.status_code == 422 and invalid.headers["access-control-allow-origin"] == ORIGIN


async def test_validation_size_and_rate_limits(chub: Hub, client_of: Callable[..., httpx.AsyncClient]) -> None:
    _, key = await create_api_key(chub, "site", Scope.COLLECT)
    # A frozen clock: the bucket cannot refill between the requests, however slow the machine.
    chub.provide(CollectLimiter, CollectLimiter(chub.settings, clock=lambda: 1000.0))
    async with client_of() as c:
        r = await c.post(
            f"/v1/collect?key={key}", json={"batch": [{"event": "ok", "distinct_id": "d"}, {"event": 3}, "x"]}
        )
        assert r.status_code == 422
        fields = {e["field"] for e in r.json()["errors"]}
        assert {"batch[1].event", "batch[1].distinct_id", "batch[2]"} <= fields
        assert (await c.post(f"/v1/collect?key={key}", content=b"{not json")).status_code == 422
        too_many = [{"event": "e", "distinct_id": "d"}] * 41
        r = await c.post(f"/v1/collect?key={key}", json=too_many)
        assert r.status_code == 422 and r.json()["errors"][0]["code"] == "too_many"
        big = {"event": "e", "distinct_id": "d", "properties": {"x": "y" * 40000}}
        assert (await c.post(f"/v1/collect?key={key}", json=big)).status_code == 422
        # 50 events/s with a burst of 50: the second full batch at once is refused with Retry-After.
        batch = [{"event": "e", "distinct_id": "d"}] * 40
        assert (await c.post(f"/v1/collect?key={key}", json=batch)).status_code == 202
        limited = await c.post(f"/v1/collect?key={key}", json=batch)
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
        assert limited.json()["code"] == "rate_limited"


async def test_a_revoked_collect_key_is_refused_within_the_cache_ttl(
    chub: Hub,
    clock: FakeClock,
    client_of: Callable[..., httpx.AsyncClient],
    db_url: str,
    tmp_path: Path,
    providers: ProviderRegistry,
) -> None:
    ttl = chub.settings.collect_key_cache_seconds
    assert ttl == 5.0
    record, key = await create_api_key(chub, "site", Scope.COLLECT)
    one = {"event": "e", "distinct_id": "d"}
    async with client_of() as c, make_hub(db_url, tmp_path / "other", providers, clock=clock) as other:
        assert (await c.post(f"/v1/collect?key={key}", json=one)).status_code == 202
        await revoke_api_key(other, record.id)  # another process: this one still holds the verified key
        clock.advance(ttl - 0.5)
        assert (await c.post(f"/v1/collect?key={key}", json=one)).status_code == 202
        clock.advance(0.5)
        refused = await c.post(f"/v1/collect?key={key}", json=one)
        assert refused.status_code == 401 and key not in refused.text

        record, key = await create_api_key(chub, "site2", Scope.COLLECT)
        assert (await c.post(f"/v1/collect?key={key}", json=one)).status_code == 202
        await revoke_api_key(chub, record.id)  # this process: refused at once
        assert (await c.post(f"/v1/collect?key={key}", json=one)).status_code == 401


async def test_concurrent_requests_with_a_key_not_verified_lately_read_it_once(chub: Hub) -> None:
    statements: list[str] = []

    def seen(conn: object, cursor: object, statement: str, *args: object) -> None:
        if "api_keys" in statement:
            statements.append(statement.split()[0].upper())

    ttl = chub.settings.collect_key_cache_seconds
    record, key = await create_api_key(chub, "site", Scope.COLLECT)
    sa.event.listen(chub.engine.sync_engine, "before_cursor_execute", seen)
    try:
        got = await asyncio.gather(*(verify_api_key(chub, key, max_age=ttl) for _ in range(64)))
        assert {k.id for k in got} == {record.id}
        assert statements == ["SELECT", "UPDATE"]  # one read, and last_used_at written once

        statements.clear()
        wrong = await asyncio.gather(
            *(verify_api_key(chub, key + "x", max_age=ttl) for _ in range(16)), return_exceptions=True
        )
        assert all(isinstance(e, AuthenticationError) for e in wrong)
        assert statements == ["SELECT"]

        # A key revoked in this process while its read is under way is not kept from that read.
        statements.clear()
        record, key = await create_api_key(chub, "site2", Scope.COLLECT)
        reading = asyncio.ensure_future(verify_api_key(chub, key, max_age=ttl))
        await asyncio.sleep(0)
        await revoke_api_key(chub, record.id)
        await asyncio.gather(reading, return_exceptions=True)
        with pytest.raises(AuthenticationError):
            await verify_api_key(chub, key, max_age=ttl)
    finally:
        sa.event.remove(chub.engine.sync_engine, "before_cursor_execute", seen)


async def test_collect_js_is_served(client_of: Callable[..., httpx.AsyncClient]) -> None:
    async with client_of() as c:
        r = await c.get("/v1/collect.js")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/javascript")
    assert "sendBeacon" in r.text and "hubwire" in r.text


async def test_connect_analytics_over_rest(chub: Hub, client_of: Callable[..., httpx.AsyncClient]) -> None:
    _, admin = await create_api_key(chub, "ops", Scope.ADMIN)
    async with PostHogSimulator() as ph, client_of(Authorization=f"Bearer {admin}") as c:
        body = {"provider": "analytics", "destinations": {"posthog": {"api_key": DEFAULT_PROJECT_KEY, "host": ph.url}}}
        typo = await c.post("/v1/integrations/connect", json={**body, "events": ["Integration.Conected"]})
        assert typo.status_code == 422 and "did you mean Integration.Connected?" in typo.json()["detail"]
        unknown = await c.post("/v1/integrations/connect", json={**body, "destinations": {"amplitude": {}}})
        assert unknown.status_code == 422
        assert unknown.json()["errors"][0]["field"] == "destinations.amplitude"
        made = await c.post("/v1/integrations/connect", json={**body, "batchSize": 50, "events": ["Integration.*"]})
        assert made.status_code == 201, made.text
        got = made.json()
        assert got["status"] == "Connected" and got["config"]["batch_size"] == 50
        assert got["config"]["destinations"] == ["posthog"] and DEFAULT_PROJECT_KEY not in made.text
