"""The dashboard over HTTP in process: sign-in and sessions, CSRF, scopes, every page, bad input."""

from __future__ import annotations

import hashlib

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

import hubwire
from hubwire import Integration
from hubwire.api.keys import create_api_key, revoke_api_key
from hubwire.store.tables import dashboard_sessions
from tests.dashboard.conftest import browser, sign_in

PAGES = [
    "/inbound",
    "/conflicts",
    "/",
    "/integrations",
    "/catalogue",
    "/entities",
    "/entities/Deal",
    "/events",
    "/webhooks",
    "/jobs",
    "/api-keys",
]


async def test_pages_need_a_session_and_send_back_where_they_were(app: FastAPI) -> None:
    async with browser(app) as c:
        for page in PAGES:
            r = await c.get(page)
            assert r.status_code == 303 and r.headers["location"].startswith("/signin?next="), (page, r.headers)
        r = await c.get("/signin")
        assert r.status_code == 200 and 'name="api_key"' in r.text


async def test_signing_in_opens_an_httponly_strict_session_stored_hashed(hub: hubwire.Hub, app: FastAPI) -> None:
    _, key = await create_api_key(hub, "ops", "read")
    async with browser(app) as c:
        r = await c.post("/signin", data={"api_key": "hw_wrong_key", "next": "/"})
        assert r.status_code == 401 and "invalid or revoked API key" in r.text and "set-cookie" not in r.headers
        r = await c.post("/signin", data={"api_key": key, "next": "/events?type=Deal."})
        assert r.status_code == 303 and r.headers["location"] == "/events?type=Deal."
        cookie = r.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
        token = c.cookies["hubwire_session"]
        async with hub.read() as conn:
            ids = (await conn.execute(sa.select(dashboard_sessions.c.id))).scalars().all()
        assert ids == [hashlib.sha256(token.encode()).hexdigest()] and token not in ids
        assert key not in cookie


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:x"])
async def test_sign_in_never_redirects_off_the_dashboard(hub: hubwire.Hub, app: FastAPI, target: str) -> None:
    _, key = await create_api_key(hub, "ops", "read")
    async with browser(app) as c:
        r = await c.post("/signin", data={"api_key": key, "next": target})
        assert r.status_code == 303 and r.headers["location"] == "/"


async def test_every_page_renders_with_security_headers(admin: tuple[httpx.AsyncClient, str]) -> None:
    c, _ = admin
    await Integration.connect(provider="webhook", url="http://127.0.0.1:9/hooks", events=["Deal.*"])
    deal = await hubwire.declarations.nouns["Deal"].create(name="Big <b>one</b>", value=10, stage="Open")
    for page in PAGES:
        r = await c.get(page)
        assert r.status_code == 200, (page, r.text[:500])
        assert r.headers["content-type"].startswith("text/html")
        assert "script-src 'self'" in r.headers["content-security-policy"] and r.headers["x-frame-options"] == "DENY"
        assert "<script>" not in r.text  # nothing inline: the CSP would refuse it
    r = await c.get("/entities/Deal")
    assert deal.id in r.text and "Big &lt;b&gt;one&lt;/b&gt;" in r.text and "<b>one</b>" not in r.text
    r = await c.get("/events")
    assert "Deal.Created" in r.text


async def test_a_form_without_the_sessions_csrf_token_does_nothing(
    hub: hubwire.Hub, admin: tuple[httpx.AsyncClient, str]
) -> None:
    c, csrf = admin
    for token in (None, "forged", csrf[:-1] + ("x" if csrf[-1] != "x" else "y")):
        data = {"name": "sneaky", "scope": "admin", **({"csrf": token} if token else {})}
        r = await c.post("/api-keys", data=data)
        assert r.status_code == 403 and "csrf_failed" in r.text
    r = await c.post("/api-keys", data={"name": "real", "scope": "read", "csrf": csrf})
    assert r.status_code == 201
    names = [k.name for k in await hubwire.api.keys.list_api_keys(hub)]
    assert "sneaky" not in names and "real" in names
    # the header htmx sends is accepted as well
    r = await c.post("/api-keys", data={"name": "via-header", "scope": "read"}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201


async def test_a_new_key_is_shown_once(hub: hubwire.Hub, admin: tuple[httpx.AsyncClient, str]) -> None:
    c, csrf = admin
    r = await c.post("/api-keys", data={"name": "ci", "scope": "write", "csrf": csrf})
    key = r.text.split('id="new-key">', 1)[1].split("<", 1)[0]
    assert key.startswith("hw_") and r.headers["cache-control"] == "no-store"
    assert key not in (await c.get("/api-keys")).text


async def test_a_read_key_reads_but_cannot_act(hub: hubwire.Hub, app: FastAPI) -> None:
    _, key = await create_api_key(hub, "viewer", "read")
    ep = await Integration.connect(provider="webhook", url="http://127.0.0.1:9/hooks", events=["Deal.*"])
    async with browser(app) as c:
        csrf = await sign_in(c, key)
        assert (await c.get(f"/integrations/{ep.id}")).status_code == 200
        r = await c.post(f"/integrations/{ep.id}/disconnect", data={"csrf": csrf})
        assert r.status_code == 403 and "insufficient_scope" in r.text and "admin" in r.text
        assert (await Integration.get(ep.id))["status"] == "Connected"
        r = await c.get("/api-keys")
        assert r.status_code == 403 and "hw_" not in r.text


async def test_revoking_the_key_or_signing_out_ends_the_session(hub: hubwire.Hub, app: FastAPI) -> None:
    record, key = await create_api_key(hub, "temp", "admin")
    async with browser(app) as c:
        await sign_in(c, key)
        assert (await c.get("/jobs")).status_code == 200
        await revoke_api_key(hub, record.id)
        assert (await c.get("/jobs")).status_code == 303
    _, key = await create_api_key(hub, "temp2", "admin")
    async with browser(app) as c:
        csrf = await sign_in(c, key)
        token = c.cookies["hubwire_session"]
        r = await c.post("/signout", data={"csrf": csrf})
        assert r.status_code == 303 and r.headers["location"] == "/signin"
        c.cookies.set("hubwire_session", token)  # a copy of the old cookie opens nothing
        assert (await c.get("/jobs")).status_code == 303


async def test_bad_input_is_a_readable_4xx_page(admin: tuple[httpx.AsyncClient, str]) -> None:
    c, csrf = admin
    for url, code in [
        ("/entities/Deal?filter=not-json", 422),
        ("/entities/Deal?filter=[1]", 422),
        ('/entities/Deal?filter={"value": {"$nope": 1}}', 422),
        ("/entities/Deal?cursor=garbage", 422),
        ("/entities/Nope", 404),
        ("/integrations/integration_nope", 404),
        ("/webhooks/deliveries/msg_nope", 404),
        ("/webhooks?status=weird", 422),
    ]:
        r = await c.get(url)
        assert r.status_code == code and 'role="alert"' in r.text, (url, r.status_code, r.text[:300])
    r = await c.post("/catalogue/stripe/connect", data={"csrf": csrf})
    assert r.status_code == 422 and "api_key" in r.text
    r = await c.post(
        "/catalogue/webhook/connect", data={"csrf": csrf, "url": "http://127.0.0.1:9/", "events": "Deal.Closd"}
    )
    assert r.status_code == 422 and "did you mean Deal.Closed?" in r.text


async def test_an_integrations_error_shows_with_its_cause(
    hub: hubwire.Hub, admin: tuple[httpx.AsyncClient, str]
) -> None:
    from hubwire.sync.runs import finish_run, start_run

    c, _ = admin
    integ = await Integration.create(name="Broken", provider="webhook", status="Disconnected", error="the sync failed")
    run = await start_run(hub, integ.id)
    await finish_run(hub, run, error="401 from the provider: the API key was revoked")
    page = await c.get(f"/integrations/{integ.id}")
    assert page.status_code == 200 and 'role="alert"' in page.text
    assert "the sync failed" in page.text and f"(run <code>{run.id}</code>)" in page.text
    assert "401 from the provider: the API key was revoked" in page.text
    assert f'href="/catalogue?reconnect={integ.id}#webhook"' in page.text
