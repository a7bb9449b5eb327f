"""collect.js in a real browser: Debian's Chromium (headless, Playwright) loads a page served on loopback
that embeds ``<script src=".../v1/collect.js" data-key="pk_...">``; its page view and
``hubwire.track`` calls reach the PostHog simulator through ``POST /v1/collect`` and forwarding.

Chromium is found at ``/usr/bin/chromium`` (or ``HUBWIRE_CHROMIUM``); no browser is downloaded.
Without it the test is skipped with that reason (under ``CI=true`` it fails).
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from hubwire import Integration
from hubwire.api.app import create_app
from hubwire.api.keys import create_api_key
from hubwire.api.scopes import Scope
from hubwire.connectors.registry import ProviderRegistry
from hubwire.simulators.posthog import PostHogSimulator
from hubwire.simulators.posthog.server import DEFAULT_PROJECT_KEY
from tests.api.conftest import serve
from tests.conftest import make_hub
from tests.simulators.required_specs import IN_CI

CHROMIUM = os.environ.get("HUBWIRE_CHROMIUM", "/usr/bin/chromium")

PAGE = """<!doctype html>
<html><head><title>Shop</title>
<script src="{hub}/v1/collect.js" data-key="{key}" data-flush-ms="200"></script>
</head><body>
<button id="buy" onclick="hubwire.track('purchase', {{sku: 'A-1', price: 12.5}})">Buy</button>
<a id="next" href="/next">next</a>
</body></html>"""


# Counts the beacons a page sends (wrapping the browser's own sendBeacon).
BEACON_COUNTER = """
window.__beacons = 0;
const send = navigator.sendBeacon.bind(navigator);
navigator.sendBeacon = function (url, data) { window.__beacons += 1; return send(url, data); };
"""


def _chromium() -> str:
    if shutil.which(CHROMIUM) is None:
        reason = f"no Chromium at {CHROMIUM} (apt-get install chromium, or set HUBWIRE_CHROMIUM)"
        if IN_CI:
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)
    return CHROMIUM


@pytest.fixture
async def site() -> AsyncIterator[tuple[str, dict[str, str]]]:
    """A web site on loopback serving the page (its hub URL and key set by the test)."""
    conf: dict[str, str] = {}

    async def page(request: web.Request) -> web.Response:
        return web.Response(text=PAGE.format(**conf), content_type="text/html")

    app = web.Application()
    app.router.add_get("/", page)
    app.router.add_get("/next", page)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}", conf
    await runner.cleanup()


async def wait_for(check: object, what: str, timeout: float = 30.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if check():  # type: ignore[operator]
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def test_page_views_and_track_reach_the_destination_from_chromium(
    db_url: str, tmp_path: Path, providers: ProviderRegistry, site: tuple[str, dict[str, str]]
) -> None:
    from playwright.async_api import async_playwright

    executable = _chromium()
    origin, conf = site
    async with (
        make_hub(db_url, tmp_path, providers, allow_private_networks=True, collect_allowed_origins=origin) as hub,
        PostHogSimulator() as ph,
    ):
        token = hub.activate()
        try:
            await Integration.connect(
                provider="analytics",
                destinations={"posthog": {"api_key": DEFAULT_PROJECT_KEY, "host": ph.url}},
                flush_interval=0.1,
            )
            _, key = await create_api_key(hub, "site", Scope.COLLECT)
        finally:
            token.var.reset(token)
        async with serve(create_app(hub, workers=1)) as base, async_playwright() as pw:
            conf.update(hub=base, key=key)
            browser = await pw.chromium.launch(executable_path=executable, headless=True, args=["--no-sandbox"])
            try:
                page = await browser.new_page()
                await page.add_init_script(BEACON_COUNTER)
                await page.goto(origin + "/")
                await page.click("#buy")
                await wait_for(lambda: {"page_view", "purchase"} <= {e.event for e in ph.events}, "the first events")
                await page.click("#next")  # a new page: another page view, same visitor
                await wait_for(lambda: len([e for e in ph.events if e.event == "page_view"]) >= 2, "the second view")
                assert await page.evaluate("window.__beacons") >= 1  # sent with sendBeacon

                # A browser whose beacons are refused (queue full) falls back to fetch, and a failed
                # request (503 here, once) is retried with backoff: the event still arrives, once.
                failed: list[str] = []

                async def fail_once(route: Any) -> None:
                    if not failed:
                        failed.append(route.request.url)
                        await route.fulfill(status=503, body="busy")
                    else:
                        await route.continue_()

                refusing = await browser.new_page()
                await refusing.add_init_script("navigator.sendBeacon = function () { return false; };")
                await refusing.route("**/v1/collect?*", fail_once)
                await refusing.goto(origin + "/")
                await refusing.evaluate("hubwire.track('retried', {n: 1})")
                await wait_for(lambda: any(e.event == "retried" for e in ph.events), "the retried event")
                assert failed
            finally:
                await browser.close()
    views = [e for e in ph.events if e.event == "page_view"]
    purchase = next(e for e in ph.events if e.event == "purchase")
    assert purchase.properties["sku"] == "A-1" and purchase.properties["price"] == 12.5
    assert purchase.properties["path"] == "/" and purchase.properties["title"] == "Shop"
    visitor = purchase.distinct_id  # the first browser context's; the second page is another visitor
    assert visitor.startswith("anon_") and sorted(v.properties["path"] for v in views if v.distinct_id == visitor) == [
        "/",
        "/next",
    ]
    assert len({e.uuid for e in ph.events}) == len(ph.events)  # each event once
    assert len([e for e in ph.events if e.event == "retried"]) == 1
