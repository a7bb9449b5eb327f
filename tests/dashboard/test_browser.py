"""The dashboard in a real browser: Debian's Chromium driven by Playwright, against ``hubwire serve``'s
app under uvicorn on loopback with a worker, the Stripe simulator and a webhook receiver.

A person signs in, connects Stripe from the catalogue, watches the initial sync finish (the runs
table refreshes itself), opens a webhook delivery the sync caused and resends it. Screenshots of
each page at desktop and phone width go to ``HUBWIRE_SCREENSHOTS`` when it names a folder (the
README's and the closing note's come from there).

Chromium is found at ``/usr/bin/chromium`` (``apt-get install chromium``; ``.ci/run`` installs it);
no browser is ever downloaded. Without it the test is skipped with that reason (under ``CI=true``
it fails).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from aiohttp import web

import hubwire
from hubwire import Integration
from hubwire.api.app import create_app
from hubwire.api.keys import create_api_key
from hubwire.simulators.stripe import StripeSimulator
from tests.api.conftest import serve
from tests.simulators.required_specs import IN_CI

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


async def test_connect_watch_a_sync_and_resend_a_delivery_in_chromium(
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
        customers = stripe.seed_many("customer", 3)
        browser = await pw.chromium.launch(executable_path=executable, headless=True, args=["--no-sandbox"])
        page = await browser.new_page(viewport=DESKTOP)
        try:
            # Sign in: the key becomes a session cookie.
            await page.goto(f"{base}/")
            await expect(page).to_have_url(f"{base}/signin?next=/")
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
            await card.get_by_role("button", name="Connect Stripe").click()

            # The detail page refreshes its runs table until the initial sync finished.
            await expect(page.locator("h1")).to_contain_text("Stripe")
            await expect(page.locator("#runs tr.run-succeeded")).to_have_count(1, timeout=30_000)
            assert "running" not in await page.locator("#runs").inner_text()
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

            # The other pages, for the record (and that each renders in the browser without errors).
            for path, name in [
                ("/", "overview"),
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
        finally:
            await browser.close()
    assert len(list(shots.glob("*.png"))) == 2 * 11


async def shot(page: object, folder: Path, name: str) -> None:
    """A full-page screenshot at desktop width and one at phone width."""
    from playwright.async_api import Page

    assert isinstance(page, Page)
    await page.screenshot(path=folder / f"{name}-desktop.png", full_page=True)
    await page.set_viewport_size(PHONE)
    await page.screenshot(path=folder / f"{name}-phone.png", full_page=True)
    await page.set_viewport_size(DESKTOP)
