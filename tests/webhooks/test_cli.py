"""``hubwire webhooks deliveries list|show|resend|recover|replay|test`` and ``rotate-secret``, in process."""

from __future__ import annotations

import asyncio
import json

import pytest

from hubwire import Hub, Integration, Settings, Worker
from tests.cli.conftest import Cli, cli, cli_env  # noqa: F401  (fixtures)
from tests.fakes import deal_noun


@pytest.fixture
def endpoint(cli_env: object, refused_url: str, monkeypatch: pytest.MonkeyPatch) -> str:  # noqa: F811
    """An endpoint where nothing listens, with one dead delivery (another endpoint being connected)."""
    monkeypatch.setenv("HUBWIRE_ALLOW_PRIVATE_NETWORKS", "1")

    async def go() -> str:
        deal_noun()  # subscribable once declared
        async with Hub(Settings()) as hub:
            ep = await Integration.connect(provider="webhook", url=refused_url, events=["*"], max_attempts=1)
            await Integration.connect(provider="webhook", url=refused_url, events=["Deal.*"])
            await Worker(hub).drain()
            return ep.id

    return asyncio.run(go())


def test_cli_deliveries(cli: Cli, endpoint: str) -> None:  # noqa: F811
    r = cli("webhooks", "deliveries", "list", "--endpoint", endpoint, "--status", "dead", "--json")
    assert r.code == 0, r.err
    rows = json.loads(r.out)
    assert {d["event_type"] for d in rows} == {"Integration.Created", "Integration.Connected"}
    delivery = rows[0]["id"]
    r = cli("webhooks", "deliveries", "list")
    assert r.code == 0 and delivery in r.out and "dead" in r.out
    r = cli("webhooks", "deliveries", "show", delivery)
    assert r.code == 0 and "cannot connect" in r.out
    assert cli("webhooks", "deliveries", "list", "--status", "nope").code == 2

    r = cli("webhooks", "deliveries", "resend", delivery)
    assert r.code == 0 and f"requeued {delivery}" in r.out
    r = cli("webhooks", "deliveries", "retry", "--dead", "--endpoint", endpoint)
    assert r.code == 0 and "requeued 1 dead delivery" in r.out
    r = cli("webhooks", "deliveries", "recover", endpoint, "--since", "2000-01-01T00:00:00Z")
    assert r.code == 0 and "sending 0 deliveries again now" in r.out
    r = cli("webhooks", "deliveries", "test", endpoint)
    assert r.code == 0 and "queued test delivery" in r.out
    assert len(json.loads(cli("webhooks", "deliveries", "list", "--status", "pending", "--json").out)) == 3
    r = cli("webhooks", "rotate-secret", endpoint)
    assert r.code == 0 and r.out.strip().startswith("whsec_")
    r = cli("webhooks", "deliveries", "test", "integration_missing")
    assert r.code != 0 and "not active" in r.err


def test_cli_connects_an_endpoint_from_text_flags(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    monkeypatch.setenv("HUBWIRE_ALLOW_PRIVATE_NETWORKS", "1")
    r = cli(
        "Integration.connect",
        "--provider",
        "webhook",
        "--url",
        "http://127.0.0.1:9/hook",
        "--events",
        "Issue.*,Subscription.Cancelled",
        "--max-attempts",
        "3",
        "--schedule",
        "1,2",
        "--headers",
        '{"X-Team": "billing"}',
        "--json",
    )
    assert r.code == 0, r.err
    assert "whsec_" in r.out + r.err  # the generated secret, shown once

    async def config() -> dict[str, object]:
        async with Hub(Settings()):
            (ep,) = await Integration.find({"provider": "webhook"})
            return dict(ep["config"])

    got = asyncio.run(config())
    assert got["events"] == ["Issue.*", "Subscription.Cancelled"] and got["max_attempts"] == 3
    assert got["schedule"] == [1, 2] and "headers" not in got  # headers are encrypted credentials
    r = cli("Integration.connect", "--provider", "webhook", "--url", "http://127.0.0.1:9/x", "--events", "De*l")
    assert r.code == 2 and "event filter" in r.err
