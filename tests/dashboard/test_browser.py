"""The dashboard in a real browser: Debian's Chromium driven by Playwright, against ``hubwire serve``'s
app under uvicorn on loopback with a worker, the Stripe simulator and a webhook receiver.

A person signs in, connects Stripe from the catalogue, watches the initial sync's progress until it
finished (over Server-Sent Events, without a reload), opens a webhook delivery the sync caused and
resends it, replays a received Stripe webhook, resolves a conflict (the same field changed here and
at Stripe under a ``manual`` policy) and sees new events arrive on the event stream; another watches
a delivery to a failing endpoint until its retry succeeds, without a reload. Screenshots of
every page at desktop and phone width go to ``HUBWIRE_SCREENSHOTS`` when it names a folder (the
README's and the closing note's come from there).

Chromium is found at ``/usr/bin/chromium`` (``apt-get install chromium``; ``.ci/run`` installs it);
no browser is ever downloaded. Without it the test is skipped with that reason (under ``CI=true``
it fails).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

import hubwire
from hubwire import Integration
from hubwire.api.app import create_app
from hubwire.api.keys import create_api_key
from hubwire.domains.billing import Customer
from hubwire.simulators.pipedrive import DEFAULT_API_TOKEN as PIPEDRIVE_TOKEN
from hubwire.simulators.pipedrive import PipedriveSimulator
from hubwire.simulators.stripe import StripeSimulator
from hubwire.webhooks import get_delivery, list_deliveries
from tests.api.conftest import serve
from tests.simulators.required_specs import IN_CI

pytestmark = pytest.mark.slow  # a Chromium process each

CHROMIUM = os.environ.get("HUBWIRE_CHROMIUM", "/usr/bin/chromium")
STRIPE_KEY = "sk_test_hubwire"
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}


def _chromium() -> str:
    if shutil.which(CHROMIUM) is None:
        reason = f"no Chromium at {CHROMIUM} (apt-get install chromium, or set HUBWIRE_CHROMIUM)"
        if IN_CI:
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)
    return CHROMIUM


@asynccontextmanager
async def chromium_page(
    pw: Any, executable: str, *, console_errors: bool = True
) -> AsyncIterator[tuple[Any, list[str]]]:
    """A page of a headless Chromium at desktop width, and the errors it reports: script errors
    (nothing the CSP refused either), and console errors unless ``console_errors`` is False (a page
    that shows a refused request on purpose logs one). The browser is closed after."""
    browser = await pw.chromium.launch(executable_path=executable, headless=True, args=["--no-sandbox"])
    try:
        page = await browser.new_page(viewport=DESKTOP)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        if console_errors:
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        yield page, errors
    finally:
        await browser.close()


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[str, list[bytes]]]:
    """A webhook consumer on loopback that answers 200 and keeps the bodies."""
    bodies: list[bytes] = []

    async def take(request: web.Request) -> web.Response:
        bodies.append(await request.read())
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hooks", take)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}/hooks", bodies
    await runner.cleanup()


async def test_connect_watch_a_sync_resend_a_delivery_and_resolve_a_conflict_in_chromium(
    hub: hubwire.Hub, receiver: tuple[str, list[bytes]], tmp_path: Path
) -> None:
    from playwright.async_api import async_playwright, expect

    executable = _chromium()
    shots = Path(os.environ.get("HUBWIRE_SCREENSHOTS") or tmp_path / "shots")
    shots.mkdir(parents=True, exist_ok=True)
    hook_url, bodies = receiver
    await Integration.connect(provider="webhook", url=hook_url, events=["Customer.*"])
    _, key = await create_api_key(hub, "browser", "admin")
    async with StripeSimulator() as stripe, serve(create_app(hub, workers=1)) as base, async_playwright() as pw:
        hub.settings = hub.settings.replace(public_url=base)  # Stripe posts its webhooks to this server
        customers = stripe.seed_many("customer", 2)
        ada = stripe.seed("customer", email="ada@example.com", name="Ada")
        async with chromium_page(pw, executable) as (page, errors):
            # Sign in: the key becomes a session cookie.
            await page.goto(f"{base}/")
            await expect(page).to_have_url(f"{base}/signin?next=/")
            await shot(page, shots, "signin")
            await page.get_by_label("API key").fill(key)
            await page.get_by_role("button", name="Sign in").click()
            await expect(page.get_by_role("heading", name="Overview")).to_be_visible()

            # Connect Stripe from the catalogue, pointed at the simulator.
            await page.get_by_role("link", name="Catalogue").click()
            card = page.locator("article#stripe")
            await card.get_by_label("api key").fill(STRIPE_KEY)
            await card.locator("summary").click()
            await card.get_by_label("API base URL").fill(stripe.url)
            await shot(page, shots, "catalogue")
            # Stripe answers slowly for a while: the sync runs long enough to be watched.
            stripe.fail_next(12, status=None, delay=0.3)
            await card.get_by_role("button", name="Connect Stripe").click()

            # The detail page follows the initial sync over SSE (no reload) until it finished.
            await expect(page.locator("h1")).to_contain_text("Stripe")
            await page.evaluate("window.hubwireStayed = true")
            live = page.locator("[data-live]")
            await expect(live).to_have_attribute("data-live", re.compile(r"^/integrations/integration_\w+/live$"))
            await expect(page.locator("#runs .progress")).to_contain_text("Syncing:", timeout=30_000)
            await expect(page.locator("#runs tr.run-succeeded")).to_have_count(1, timeout=30_000)
            await expect(live).to_have_attribute("data-live-ended", "true")  # the stream said "end"
            await expect(page.locator("#runs .progress")).to_contain_text("Last run succeeded: 3 records in")
            assert await page.evaluate("window.hubwireStayed === true"), "the page reloaded instead of following"
            assert "running" not in await page.locator("#runs").inner_text()
            integration_id = page.url.rsplit("/", 1)[1]
            await shot(page, shots, "integration")

            # The sync's Customer.Created events were delivered; open one and resend it.
            await page.get_by_role("link", name="Webhooks").click()
            await expect(page.locator("td .badge-succeeded").first).to_be_visible(timeout=30_000)
            await shot(page, shots, "webhooks")
            await page.locator("tbody a[href^='/webhooks/deliveries/']").first.click()
            await expect(page.get_by_role("heading", name="Delivery")).to_be_visible()
            delivered = len(bodies)
            await page.get_by_role("button", name="Resend").click()
            # The page follows the delivery (it refreshes itself while one is due) until it succeeded again.
            await expect(page.locator("h1 .badge")).to_have_text("succeeded", timeout=30_000)
            assert len(bodies) == delivered + 1
            await expect(page.locator("table tbody tr")).to_have_count(2)
            await shot(page, shots, "delivery")

            # A change at Stripe comes back as a webhook: received, applied, shown, replayed.
            async with httpx.AsyncClient(base_url=stripe.url, auth=(STRIPE_KEY, "")) as http:
                r = await http.post(f"/v1/customers/{customers[0]['id']}", data={"name": "Renamed at Stripe"})
                assert r.status_code == 200, r.text
            await stripe.sender.idle()
            await page.get_by_role("link", name="Inbound").click()
            row = page.locator("tbody tr", has_text="customer.updated")
            for _ in range(100):  # the list is read when the page loads: load it until the hook is there
                if await row.count():
                    break
                await page.wait_for_timeout(100)
                await page.reload()
            await expect(row.locator(".badge")).to_have_text("applied", timeout=30_000)  # the list follows it
            await shot(page, shots, "inbound")
            await row.locator("a").first.click()
            await expect(page.locator("pre.body")).to_contain_text("Renamed at Stripe")
            await page.get_by_role("button", name="Replay").click()
            await expect(page.locator("h1 .badge")).to_have_text("applied", timeout=30_000)
            await shot(page, shots, "received")

            # A conflict: Ada's email changed here (while Stripe was disconnected) and at Stripe, under a
            # manual policy; the next sync parks it for review.
            await Integration.disconnect(integration_id)
            (local,) = await Customer.find({"email": "ada@example.com"})
            await Customer.update(local.id, email="ada@home.example")
            stripe.state.update("customer", ada["id"], {"email": "ada@work.example"})
            await Integration.connect(integration_id, api_key=STRIPE_KEY, conflicts={"Customer.email": "manual"})
            await Integration.sync(integration_id)
            await page.get_by_role("link", name="Conflicts").click()
            parked = page.locator("tbody tr", has_text=local.id)
            for _ in range(100):  # the sync runs in the server's worker
                if await parked.count():
                    break
                await page.wait_for_timeout(100)
                await page.reload()
            await shot(page, shots, "conflicts")
            await parked.locator("a").first.click()
            await expect(page.locator("h1")).to_contain_text("Conflict")
            for value in ("ada@example.com", "ada@home.example", "ada@work.example"):  # base, local, remote
                await expect(page.locator("main table")).to_contain_text(value)
            await shot(page, shots, "conflict")
            await page.get_by_label("remote").check()
            await page.get_by_label("Reason").fill("Ada changed it at Stripe")
            await page.get_by_role("button", name="Resolve on both sides").click()
            await expect(page.locator("h1 .badge")).to_have_text("resolved")
            await expect(page.locator("main dl")).to_contain_text("by browser: Ada changed it at Stripe")
            assert (await Customer.get(local.id))["email"] == "ada@work.example"
            assert stripe.store["customer"][ada["id"]]["email"] == "ada@work.example"

            # The other pages, for the record (and that each renders in the browser without errors).
            for path, name in [
                ("/", "overview"),
                ("/entities", "nouns"),
                ("/entities/Customer", "entities"),
                ("/events", "events"),
                ("/jobs", "jobs"),
                ("/api-keys", "api-keys"),
                ("/integrations", "integrations"),
            ]:
                await page.goto(f"{base}{path}")
                await expect(page.locator("main h1")).to_be_visible()
                await shot(page, shots, name)
                if name == "entities":
                    await expect(page.locator("main tbody tr")).to_have_count(3)

            # The event stream puts new events on top as they happen.
            await page.goto(f"{base}/events?type=Customer.")
            await expect(page.locator("#event-rows tr").first).to_contain_text("Customer.")
            await Customer.update(local.id, name="Ada Lovelace")
            await expect(page.locator("#event-rows tr").first).to_contain_text(local.id, timeout=30_000)
            await expect(page.locator("#event-rows tr").first).to_contain_text("Customer.Updated")
            assert errors == [], errors  # no script error, nothing the CSP refused
    # Sixteen pages at two widths (the field mappings test writes its own two beside them).
    assert len([p for p in shots.glob("*.png") if not p.name.startswith("mappings-")]) == 2 * 16


async def test_a_deliverys_retry_arrives_live_in_chromium(hub: hubwire.Hub) -> None:
    """A delivery to an endpoint that answers 500: its page shows the failed attempt, then the retry that
    succeeded once the endpoint recovered, as it happens (Server-Sent Events, no reload), and its stream ends."""
    from playwright.async_api import async_playwright, expect

    executable = _chromium()
    failing = True

    async def take(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=500, text="down for now") if failing else web.Response(text="ok")

    consumer = web.Application()
    consumer.router.add_post("/hooks", take)
    runner = web.AppRunner(consumer, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    hook_url = f"http://127.0.0.1:{runner.addresses[0][1]}/hooks"
    await Integration.connect(provider="webhook", url=hook_url, events=["Customer.*"], schedule=[1.0], max_attempts=20)
    _, key = await create_api_key(hub, "browser", "read")
    await Customer.create(email="retry@example.com", name="Retry")
    (queued,) = await list_deliveries(hub)
    try:
        async with (
            serve(create_app(hub, workers=1)) as base,
            async_playwright() as pw,
            chromium_page(pw, executable) as (page, errors),
        ):
            await page.goto(f"{base}/signin?next=/webhooks/deliveries/{queued.id}")
            await page.get_by_label("API key").fill(key)
            await page.get_by_role("button", name="Sign in").click()
            await expect(page.get_by_role("heading", name="Delivery")).to_be_visible()
            await page.evaluate("window.hubwireStayed = true")
            live = page.locator("[data-live]")
            await expect(live).to_have_attribute("data-live", f"/webhooks/deliveries/{queued.id}/live")
            attempts = page.locator("#delivery tbody tr")
            await expect(attempts.first).to_contain_text("500", timeout=30_000)
            await expect(page.locator("h1 .badge")).to_have_text("failed")

            failing = False  # the endpoint recovers: the next retry succeeds, and the page shows it
            await expect(page.locator("h1 .badge")).to_have_text("succeeded", timeout=30_000)
            await expect(live).to_have_attribute("data-live-ended", "true")
            delivered = await get_delivery(hub, queued.id)
            await expect(attempts).to_have_count(delivered.attempts)
            await expect(attempts.last).to_contain_text("200")
            assert delivered.attempts >= 2
            await expect(page.get_by_role("button", name="Resend")).to_be_visible()
            assert await page.evaluate("window.hubwireStayed === true"), "the page reloaded instead of following"
            assert errors == [], errors
    finally:
        await runner.cleanup()


async def shot(page: object, folder: Path, name: str) -> None:
    """A full-page screenshot at desktop width and one at phone width."""
    from playwright.async_api import Page

    assert isinstance(page, Page)
    await page.screenshot(path=folder / f"{name}-desktop.png", full_page=True)
    await page.set_viewport_size(PHONE)
    await page.screenshot(path=folder / f"{name}-phone.png", full_page=True)
    await page.set_viewport_size(DESKTOP)


async def test_edit_a_field_mapping_in_chromium_at_desktop_and_phone_width(hub: hubwire.Hub, tmp_path: Path) -> None:
    """A Pipedrive connection's field mappings: a refused save shows why beside the form, the fixed one
    is listed with its version, and the page fits a phone's width (no sideways scrolling)."""
    from playwright.async_api import async_playwright, expect

    executable = _chromium()
    shots = Path(os.environ.get("HUBWIRE_SCREENSHOTS") or tmp_path / "shots")
    shots.mkdir(parents=True, exist_ok=True)
    _, key = await create_api_key(hub, "ops", "write")
    async with PipedriveSimulator() as sim, serve(create_app(hub, workers=0)) as base, async_playwright() as pw:
        tier = sim.add_field("persons", "Tier", "enum", options=["Gold", "Silver"])
        sim.add_field("persons", "Renewal", "date")
        crm = await Integration.connect(provider="pipedrive", api_token=PIPEDRIVE_TOKEN, api_base_url=sim.url)
        async with chromium_page(pw, executable, console_errors=False) as (page, errors):
            await page.goto(f"{base}/signin?next=/integrations/{crm.id}")
            await page.get_by_label("API key").fill(key)
            await page.get_by_role("button", name="Sign in").click()
            await page.get_by_role("link", name="field mappings, remote fields and versions").click()
            await expect(page.locator("#remote-fields")).to_contain_text("Renewal")

            await page.get_by_label("Remote field").select_option(tier)
            await page.get_by_label("Noun field").select_option("lifecycle_stage")
            await page.get_by_label("Transform").select_option("enum")
            await page.get_by_label("Enum map").fill("1 = customer\n3 = lead")
            await page.get_by_role("button", name="Save Contact mappings").click()
            await expect(page.locator("#mapping-errors")).to_contain_text("Contact[0].transform.map")
            await expect(page.locator("#current")).to_contain_text("the defaults apply")

            await page.get_by_label("Enum map").fill("1 = customer\n2 = lead")
            await page.get_by_role("button", name="Save Contact mappings").click()
            await expect(page.locator("#current")).to_contain_text("lifecycle_stage")
            await expect(page.locator("#versions tbody tr")).to_have_count(1)
            await expect(page.locator("#versions")).to_contain_text("ops")
            await shot(page, shots, "mappings")
            await page.set_viewport_size(PHONE)
            assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
            assert errors == [], errors
