"""The whole loop, as a deployment runs it: ``hubwire serve``'s app under uvicorn on loopback (with a
worker) is the public URL; connect registers it with the provider's simulator; a change at the
provider comes back as a signed webhook through ``POST /v1/hooks/{id}``, is verified, stored in the
inbox, and applied by the ``inbound.apply`` job to the local entity — no test stand-in anywhere.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

import hubwire.connectors.github
import hubwire.connectors.stripe  # noqa: F401 - registers the provider
from hubwire import Integration
from hubwire.api.app import create_app
from hubwire.connectors.registry import ProviderRegistry
from hubwire.domains.billing import Customer
from hubwire.domains.projects import Issue
from hubwire.inbound import list_received
from hubwire.simulators.github import GitHubSimulator
from hubwire.simulators.github.server import DEFAULT_TOKEN
from hubwire.simulators.stripe import StripeSimulator
from tests.api.conftest import serve
from tests.conftest import make_hub

STRIPE_KEY = "sk_test_hubwire"


async def eventually(check: Callable[[], Awaitable[Any]], what: str) -> Any:
    """``check()`` once it is truthy: the loop crosses processes' worth of queues (a bounded wait, not a timing)."""
    for _ in range(300):
        value = await check()
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError(f"never happened: {what}")


async def synced(integration_id: str) -> bool:
    return (await Integration.get(integration_id))["status"] == "Synced"


async def test_a_change_at_stripe_reaches_the_local_customer_through_the_hook_route(
    db_url: str, tmp_path: Path, providers: ProviderRegistry
) -> None:
    async with (
        make_hub(db_url, tmp_path, providers, allow_private_networks=True) as hub,
        StripeSimulator() as stripe,
        serve(create_app(hub, workers=1)) as base,
    ):
        hub.settings = hub.settings.replace(public_url=base)
        (seeded,) = stripe.seed_many("customer", 1, name="Ada")
        integ = await Integration.connect(provider="stripe", api_key=STRIPE_KEY, api_base_url=stripe.url)
        assert integ["webhooks"] == f"registered: {base}/v1/hooks/{integ.id}" == f"registered: {integ['hook_url']}"
        await eventually(lambda: synced(integ.id), "the initial sync")

        async with httpx.AsyncClient(base_url=stripe.url, auth=(STRIPE_KEY, "")) as http:
            r = await http.post(f"/v1/customers/{seeded['id']}", data={"name": "Ada Lovelace"})
            assert r.status_code == 200, r.text
        await stripe.sender.idle()

        async def renamed() -> bool:
            return [c["name"] for c in await Customer.find({})] == ["Ada Lovelace"]

        await eventually(renamed, "the customer renamed by the webhook")
        rows = await list_received(hub, integration_id=integ.id, event_type="customer.updated")
        assert [(r.status, r.provider) for r in rows] == [("applied", "stripe")]
        assert "stripe-signature" not in rows[0].headers  # signatures are not kept


async def test_an_issue_closed_on_github_completes_the_local_issue_through_the_hook_route(
    db_url: str, tmp_path: Path, providers: ProviderRegistry, github_sim: GitHubSimulator
) -> None:
    gh = github_sim
    gh.seed_repo(gh.login, "app")
    gh.seed_issue(gh.login, "app", title="Crash on start")
    async with (
        make_hub(db_url, tmp_path, providers, allow_private_networks=True) as hub,
        serve(create_app(hub, workers=1)) as base,
    ):
        hub.settings = hub.settings.replace(public_url=base)
        integ = await Integration.connect(provider="github", token=DEFAULT_TOKEN, api_base_url=gh.url)
        assert integ["webhooks"] == f"registered: {base}/v1/hooks/{integ.id}"
        await eventually(lambda: synced(integ.id), "the initial sync")
        completed: list[str] = []

        @Issue.completed
        async def on_completed(issue: Any) -> None:
            completed.append(issue["title"])

        gh.update_issue(gh.login, "app", 1, state="closed", state_reason="completed")
        await gh.sender.idle()

        async def done() -> bool:
            # The verb (and its hooks) is announced once the change is stored: after it, not with it.
            return [i["status"] for i in await Issue.find({})] == ["Completed"] and completed == ["Crash on start"]

        await eventually(done, "the issue completed by the webhook, and its @Issue.completed hook run")
        statuses = {r.event_type: r.status for r in await list_received(hub, integration_id=integ.id)}
        assert statuses["issues.closed"] == "applied", statuses
