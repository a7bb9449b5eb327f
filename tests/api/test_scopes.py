"""Scoped API keys: every route of the app answers each scope as the table says, and what that means.

The table below is the specification, written independently of ``hubwire.api.scopes``: a route
the app serves that it does not list (or, for the Noun routes generated per Noun, that the
method rule does not cover) fails ``test_every_route_has_a_scope_decision``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts

import hubwire
from hubwire.api.app import create_app, declared_routes, noun_base
from hubwire.api.keys import create_api_key, list_api_keys, verify_api_key
from hubwire.api.routes import PUBLIC_ROUTERS, ROUTERS
from hubwire.api.routes.nouns import noun_router
from hubwire.api.scopes import Scope
from hubwire.dashboard.pages import router as dashboard_router
from hubwire.nouns.noun import Noun
from hubwire.store.engine import migrate
from tests.api.conftest import ACME_SECRET

PROBLEM = "application/problem+json"
PUBLIC = "public"
# The dashboard's pages and forms: a session cookie, not a bearer key, authenticates them (their
# scopes are checked in tests/dashboard/test_scopes.py); a bearer key alone opens none of them.
DASHBOARD = "dashboard"
DASHBOARD_ROUTES = declared_routes([dashboard_router])

# Open routes: no key needed, so no scope either.
# (A provider's webhook is authenticated by its signature, the OAuth callback by its single-use state.)
OPEN = {
    "/healthz",
    "/openapi.json",
    "/docs",
    "/docs/oauth2-redirect",
    "/redoc",
    "/v1/oauth/callback",
    "/v1/hooks/{integration_id}",
    "/v1/collect.js",
}

# Every route a router declares (the Noun routes are generated, below), with the scope it needs.
DECLARED: dict[tuple[str, str], Scope] = {
    ("POST", "/v1/integrations/connect"): Scope.ADMIN,
    ("POST", "/v1/integrations/{id}/connect"): Scope.ADMIN,
    ("POST", "/v1/integrations/{id}/disconnect"): Scope.ADMIN,
    ("POST", "/v1/integrations/{id}/sync"): Scope.WRITE,
    ("POST", "/v1/integrations/{id}/proxy"): Scope.ADMIN,
    ("GET", "/v1/integrations/{id}/runs"): Scope.READ,
    ("GET", "/v1/integrations/{id}/push"): Scope.READ,
    ("GET", "/v1/integrations/{id}/schedule"): Scope.READ,
    ("GET", "/v1/integrations/{id}/remote-fields"): Scope.READ,
    ("GET", "/v1/integrations/{id}/mappings"): Scope.READ,
    ("GET", "/v1/integrations/{id}/mappings/versions"): Scope.READ,
    ("GET", "/v1/integrations/{id}/mappings/{noun}"): Scope.READ,
    ("PUT", "/v1/integrations/{id}/mappings/{noun}"): Scope.WRITE,
    ("GET", "/v1/providers"): Scope.READ,
    ("GET", "/v1/providers/{slug}"): Scope.READ,
    ("GET", "/v1/events"): Scope.READ,
    ("GET", "/v1/events/stream"): Scope.READ,
    ("GET", "/v1/event-types"): Scope.READ,
    ("GET", "/v1/event-types/{name}"): Scope.READ,
    ("GET", "/v1/jobs"): Scope.READ,
    ("GET", "/v1/jobs/{id:int}"): Scope.READ,
    ("POST", "/v1/jobs/retry-dead"): Scope.WRITE,
    ("POST", "/v1/jobs/{id:int}/retry"): Scope.WRITE,
    ("GET", "/v1/nouns"): Scope.READ,
    ("GET", "/v1/webhooks/deliveries"): Scope.READ,
    ("GET", "/v1/webhooks/deliveries/{id}"): Scope.READ,
    ("GET", "/v1/webhooks/deliveries/{id}/attempts"): Scope.READ,
    ("POST", "/v1/webhooks/deliveries/{id}/resend"): Scope.WRITE,
    ("POST", "/v1/webhooks/endpoints/{id}/recover"): Scope.WRITE,
    ("POST", "/v1/webhooks/endpoints/{id}/test"): Scope.WRITE,
    ("POST", "/v1/webhooks/retry-dead"): Scope.WRITE,
    ("POST", "/v1/webhooks/endpoints/{id}/rotate-secret"): Scope.ADMIN,
    ("GET", "/v1/hooks/received"): Scope.READ,
    ("GET", "/v1/hooks/received/{id}"): Scope.READ,
    ("POST", "/v1/hooks/received/{id}/replay"): Scope.WRITE,
    ("GET", "/v1/hooks/stats"): Scope.READ,
    ("GET", "/v1/api-keys"): Scope.ADMIN,
    ("POST", "/v1/api-keys"): Scope.ADMIN,
    ("DELETE", "/v1/api-keys/{id}"): Scope.ADMIN,
    ("GET", "/v1/oauth/{provider}/authorize"): Scope.ADMIN,
    ("GET", "/v1/oauth-apps"): Scope.ADMIN,
    ("GET", "/v1/oauth-apps/{provider}"): Scope.ADMIN,
    ("PUT", "/v1/oauth-apps/{provider}"): Scope.ADMIN,
    ("DELETE", "/v1/oauth-apps/{provider}"): Scope.ADMIN,
    ("POST", "/v1/messages/send"): Scope.WRITE,
    ("POST", "/v1/emailmessages/send"): Scope.WRITE,
    ("GET", "/v1/conflicts"): Scope.READ,
    ("GET", "/v1/conflicts/{id:int}"): Scope.READ,
    ("POST", "/v1/conflicts/{id:int}/resolve"): Scope.WRITE,
    ("GET", "/v1/analytics/deliveries"): Scope.READ,
    ("GET", "/v1/analytics/query"): Scope.READ,
    # The publishable key's one route; admin may collect too, read and write may not.
    ("POST", "/v1/collect"): Scope.COLLECT,
}
# Generated Noun routes need read to GET and write otherwise, except an Integration's configuration.
NOUN_ADMIN = {
    ("POST", "/v1/integrations"),
    ("PATCH", "/v1/integrations/{id}"),
    ("DELETE", "/v1/integrations/{id}"),
}
SCOPES = (Scope.READ, Scope.WRITE, Scope.ADMIN, Scope.COLLECT)


def generated_routes() -> set[tuple[str, str]]:
    """The (method, path) pairs the app generates for the declared Nouns."""
    taken = declared_routes([*PUBLIC_ROUTERS, *ROUTERS])
    out: set[tuple[str, str]] = set()
    for noun in Noun.registry.values():
        out |= declared_routes([noun_router(noun, taken, base=noun_base(noun, taken))])
    return out


def served_routes(app: FastAPI) -> set[tuple[str, str]]:
    return {(m, ctx.path) for ctx in iter_route_contexts(app.routes) if ctx.path for m in ctx.methods or ()}


def expected(method: str, path: str, generated: set[tuple[str, str]]) -> Scope | str | None:
    if path in OPEN:
        return PUBLIC
    if (method, path) in DASHBOARD_ROUTES or path.startswith("/static"):
        return DASHBOARD
    if (method, path) in DECLARED:
        return DECLARED[method, path]
    if (method, path) in generated:
        if (method, path) in NOUN_ADMIN:
            return Scope.ADMIN
        return Scope.READ if method == "GET" else Scope.WRITE
    return None  # nobody decided


def granted(key: Scope, needed: Scope) -> bool:
    if Scope.COLLECT in (key, needed):  # granted to itself and to admin, and grants nothing else
        return key == needed or key == Scope.ADMIN
    order = {Scope.READ: 0, Scope.WRITE: 1, Scope.ADMIN: 2}
    return order[key] >= order[needed]


def probe_url(path: str) -> str:
    # Every path parameter gets a value that names nothing: a request that passes is a 404 or a
    # 422 at worst, and changes nothing. The event stream is asked to end at once.
    url = re.sub(r"\{[^}]+\}", "0", path)
    return url + "?timeout=0.01" if path == "/v1/events/stream" else url


Keyed = Callable[[Scope | None], Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def holding(app: FastAPI) -> AsyncIterator[Callable[[str | None], httpx.AsyncClient]]:
    """``holding(key)``: a client of the app sending that key (``None``: no key)."""
    clients: list[httpx.AsyncClient] = []

    def make(key: str | None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        c = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hubwire.test", headers=headers)
        clients.append(c)
        return c

    yield make
    for c in clients:
        await c.aclose()


@pytest.fixture
def keyed(hub: hubwire.Hub, holding: Callable[[str | None], httpx.AsyncClient]) -> Keyed:
    """``await keyed(scope)``: a client holding a fresh key of that scope (``None``: no key)."""

    async def make(scope: Scope | None) -> httpx.AsyncClient:
        if scope is None:
            return holding(None)
        _, key = await create_api_key(hub, f"{scope}-key", scope)
        return holding(key)

    return make


def test_every_route_has_a_scope_decision(app: FastAPI) -> None:
    served = served_routes(app)
    generated = generated_routes()
    undecided = sorted(r for r in served if expected(*r, generated) is None)
    assert not undecided, f"routes without a scope decision (add them to DECLARED and hubwire.api.scopes): {undecided}"
    stale = sorted(set(DECLARED) - served)
    assert not stale, f"DECLARED lists routes the app does not serve: {stale}"
    # The table covers the generated Noun routes too (the test Deal's custom verbs included).
    assert ("POST", "/v1/deals/{id}/close") in served and ("POST", "/v1/integrations") in served


@pytest.mark.parametrize("scope", [None, *SCOPES], ids=["no key", *(s.value for s in SCOPES)])
async def test_each_scope_gets_exactly_what_the_table_says(app: FastAPI, keyed: Keyed, scope: Scope | None) -> None:
    client = await keyed(scope)
    generated = generated_routes()
    wrong = []
    for method, path in sorted(served_routes(app)):
        needed = expected(method, path, generated)
        assert needed is not None, (method, path)
        r = await client.request(method, probe_url(path), json={} if method in ("POST", "PATCH") else None)
        if needed == PUBLIC:
            ok = r.status_code not in (401, 403)
        elif needed == DASHBOARD:
            signin = r.status_code == 303 and r.headers["location"].startswith("/signin")
            ok = signin or path in ("/signin", "/static")
        elif scope is None:
            ok = r.status_code == 401 and r.json()["code"] == "unauthenticated"
        elif granted(scope, Scope(needed)):
            ok = r.status_code not in (401, 403)
        else:
            body = r.json() if r.headers.get("content-type") == PROBLEM else {}
            ok = (
                r.status_code == 403
                and body.get("code") == "insufficient_scope"
                and body.get("required_scope") == needed
                and body.get("scope") == scope
            )
        if not ok:
            wrong.append(f"{method} {path}: needs {needed}, {scope} key got {r.status_code} {r.text[:200]}")
    assert not wrong, "\n".join(wrong)


async def test_a_scope_miss_is_a_problem_naming_the_scope_needed(keyed: Keyed) -> None:
    reader = await keyed(Scope.READ)
    r = await reader.post("/v1/deals", json={"name": "not by a reader"})
    assert r.status_code == 403 and r.headers["content-type"] == PROBLEM
    body = r.json()
    assert body["code"] == "insufficient_scope" and body["type"].endswith("/insufficient_scope")
    assert body["required_scope"] == "write" and body["scope"] == "read"
    assert "write" in body["detail"] and "POST /v1/deals" in body["detail"]


async def test_a_read_key_reads_and_cannot_create_or_connect(
    hub: hubwire.Hub, keyed: Keyed, deal: hubwire.Noun
) -> None:
    made = await deal.create(name="Existing", stage="Open")
    reader = await keyed(Scope.READ)

    assert (await reader.get(f"/v1/deals/{made.id}")).json()["name"] == "Existing"
    assert [d["name"] for d in (await reader.get("/v1/deals")).json()["data"]] == ["Existing"]
    assert (await reader.get("/v1/events", params={"types": "Deal.*"})).json()["data"]
    stream = await reader.get("/v1/events/stream", params={"timeout": "0.01"})
    assert stream.status_code == 200 and "Deal.Created" in stream.text

    assert (await reader.post("/v1/deals", json={"name": "New"})).status_code == 403
    assert (await reader.post(f"/v1/deals/{made.id}/close")).status_code == 403
    assert (await reader.patch(f"/v1/deals/{made.id}", json={"name": "Renamed"})).status_code == 403
    assert (await reader.delete(f"/v1/deals/{made.id}")).status_code == 403
    r = await reader.post("/v1/integrations/connect", json={"provider": "acme", "api_key": ACME_SECRET})
    assert r.status_code == 403 and r.json()["required_scope"] == "admin"

    # Nothing was written by the refused requests.
    assert [d.name for d in await deal.find({})] == ["Existing"]
    assert (await deal.get(made.id)).stage == "Open"
    assert await hubwire.Integration.find({"provider": "acme"}) == []


async def test_a_write_key_runs_nouns_and_verbs_but_not_keys_or_credentials(
    hub: hubwire.Hub, keyed: Keyed, deal: hubwire.Noun
) -> None:
    acme = await hubwire.Integration.connect(provider="acme", api_key=ACME_SECRET, region="eu")
    writer = await keyed(Scope.WRITE)

    created = await writer.post("/v1/deals", json={"name": "Deal", "stage": "Open"})
    assert created.status_code == 201, created.text
    closed = await writer.post(f"/v1/deals/{created.json()['$id']}/close")
    assert closed.status_code == 200 and closed.json()["stage"] == "Closed"
    assert (await writer.post(f"/v1/integrations/{acme.id}/sync")).status_code == 202
    assert (await writer.post("/v1/jobs/retry-dead")).status_code == 200

    keys_before = await list_api_keys(hub)
    for method, url, body in [
        ("GET", "/v1/api-keys", None),
        ("POST", "/v1/api-keys", {"name": "escalate", "scope": "admin"}),
        ("DELETE", f"/v1/api-keys/{keys_before[0].id}", None),
        ("POST", f"/v1/integrations/{acme.id}/connect", {"api_key": ACME_SECRET, "api_base_url": "http://127.0.0.1:9"}),
        ("PATCH", f"/v1/integrations/{acme.id}", {"config": {"region": "us"}, "apiBaseUrl": "http://127.0.0.1:9"}),
        ("POST", f"/v1/integrations/{acme.id}/disconnect", None),
        ("DELETE", f"/v1/integrations/{acme.id}", None),
        ("POST", "/v1/integrations", {"name": "Other", "provider": "acme"}),
        ("POST", "/v1/integrations/connect", {"provider": "acme", "api_key": ACME_SECRET, "slug": "acme-2"}),
        ("POST", f"/v1/webhooks/endpoints/{acme.id}/rotate-secret", None),
    ]:
        r = await writer.request(method, url, json=body)
        assert r.status_code == 403, (method, url, r.text)
        assert r.json()["required_scope"] == "admin"

    assert await list_api_keys(hub) == keys_before
    after = await hubwire.Integration.get(acme.id)
    assert after.status in ("Connected", "Synced") and after.config == acme.config
    assert after.api_base_url == acme.api_base_url
    assert [i.id for i in await hubwire.Integration.find({})] == [acme.id]


async def test_an_admin_key_manages_keys_and_integrations(
    keyed: Keyed, holding: Callable[[str | None], httpx.AsyncClient]
) -> None:
    admin = await keyed(Scope.ADMIN)

    made = await admin.post("/v1/api-keys", json={"name": "dashboard", "scope": "read"})
    assert made.status_code == 201, made.text
    record = made.json()
    key = record.pop("key")
    assert key.startswith(f"hw_{record['prefix']}_") and record["scope"] == "read" and record["name"] == "dashboard"

    listed = (await admin.get("/v1/api-keys")).json()["data"]
    assert {k["name"]: k["scope"] for k in listed} == {"admin-key": "admin", "dashboard": "read"}
    listing = (await admin.get("/v1/api-keys")).text
    assert key not in listing and key.split("_")[2] not in listing
    assert all(set(k) == {"id", "name", "prefix", "scope", "created_at", "last_used_at", "revoked_at"} for k in listed)

    # The new key is what it says: reads, and nothing more; revoked, nothing at all.
    dashboard = holding(key)
    assert (await dashboard.get("/v1/integrations")).status_code == 200
    assert (await dashboard.post("/v1/api-keys", json={"scope": "admin"})).status_code == 403
    revoked = await admin.delete(f"/v1/api-keys/{record['id']}")
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    assert "key" not in revoked.json() and key not in revoked.text
    assert (await dashboard.get("/v1/integrations")).status_code == 401
    assert (await admin.delete(f"/v1/api-keys/{record['id']}")).status_code == 404

    connected = await admin.post("/v1/integrations/connect", json={"provider": "acme", "api_key": ACME_SECRET})
    assert connected.status_code == 201, connected.text
    iid = connected.json()["$id"]
    patched = await admin.patch(f"/v1/integrations/{iid}", json={"config": {"region": "us"}})
    assert patched.status_code == 200 and patched.json()["config"]["region"] == "us"
    assert (await admin.post(f"/v1/integrations/{iid}/disconnect")).json()["status"] == "Disconnected"


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"name": "x"}, "scope", "required"),
        ({"scope": "root"}, "scope", "invalid_scope"),
        ({"scope": ["admin"]}, "scope", "invalid_scope"),
        ({"scope": "read", "name": ""}, "name", "length"),
        ({"scope": "read", "name": "n" * 201}, "name", "length"),
        ({"scope": "read", "name": 7}, "name", "length"),
        ({"scope": "read", "hash": "x"}, "hash", "unknown_field"),
    ],
)
async def test_creating_a_key_with_bad_input_is_a_422_naming_the_field(
    hub: hubwire.Hub, keyed: Keyed, body: dict[str, object], field: str, code: str
) -> None:
    admin = await keyed(Scope.ADMIN)
    r = await admin.post("/v1/api-keys", json=body)
    assert r.status_code == 422 and r.headers["content-type"] == PROBLEM, r.text
    assert [(e["field"], e["code"]) for e in r.json()["errors"]] == [(field, code)]
    assert len(await list_api_keys(hub)) == 1  # only the admin's own


async def test_with_authentication_disabled_every_route_passes(hub: hubwire.Hub, deal: hubwire.Noun) -> None:
    open_hub = hubwire.Hub(hub.settings, auth_required=False, providers=hub.providers)
    app = create_app(open_hub)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c,
    ):
        r = await c.post("/v1/api-keys", json={"name": "from loopback", "scope": "write"})
        assert r.status_code == 201, r.text
        assert (await c.post("/v1/deals", json={"name": "no key"})).status_code == 201
        assert (await c.get("/v1/api-keys")).json()["data"][0]["scope"] == "write"
    await open_hub.close()


# The migration --------------------------------------------------------------------------------


async def test_keys_made_before_scopes_become_admin(empty_db: str, tmp_path: Path) -> None:
    await migrate(empty_db, "0003_connectors")
    async with hubwire.Hub(database_url=empty_db, data_dir=tmp_path, secret_key="k" * 32, auto_migrate=False) as old:
        _, key = await _old_style_key(old)
    await migrate(empty_db)
    async with hubwire.Hub(database_url=empty_db, data_dir=tmp_path, secret_key="k" * 32, auto_migrate=False) as hub:
        assert (await verify_api_key(hub, key)).scope is Scope.ADMIN
        record, _ = await create_api_key(hub, "new", Scope.READ)
        assert {k.name: k.scope for k in await list_api_keys(hub)} == {"old": Scope.ADMIN, "new": Scope.READ}
        assert record.scope is Scope.READ
        # The default only filled the old rows: a key written without a scope is refused, not made admin.
        with pytest.raises(sa.exc.IntegrityError):
            await _old_style_key(hub, "key_new")


async def _old_style_key(hub: hubwire.Hub, key_id: str = "key_old") -> tuple[str, str]:
    """A key row as Hubwire wrote it before migration 0004 (no scope column)."""
    key = f"hw_{key_id[-8:]}_" + "o" * 32
    async with hub.transaction() as tx:
        await tx.conn.execute(
            sa.text("INSERT INTO api_keys (id, name, prefix, hash, created_at) VALUES (:id, 'old', :prefix, :h, 1)"),
            {"id": key_id, "prefix": key_id[-8:], "h": hashlib.sha256(key.encode()).hexdigest()},
        )
    return key_id, key
