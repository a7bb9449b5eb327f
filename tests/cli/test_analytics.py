"""``hubwire apikey create --collect-only`` and ``hubwire analytics deliveries``."""

from __future__ import annotations

import json

import pytest

from tests.cli.conftest import Cli


def test_collect_only_makes_a_publishable_collect_key(cli: Cli) -> None:
    made = json.loads(cli("apikey", "create", "--name", "site", "--collect-only", "--json").out)
    assert made["scope"] == "collect" and made["key"].startswith(f"pk_{made['prefix']}_")
    r = cli("apikey", "create", "--collect-only")
    assert r.code == 0 and "scope collect" in r.err and "collect.js" in r.err and r.out.startswith("pk_")


def test_analytics_deliveries_lists_the_log(cli: Cli) -> None:
    r = cli("analytics", "deliveries")
    assert r.code == 0 and "no deliveries" in r.err
    assert json.loads(cli("analytics", "deliveries", "--json").out) == {"data": [], "outbox": {}}


def test_connect_analytics_from_the_command_line(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUBWIRE_ALLOW_PRIVATE_NETWORKS", "1")  # the destination is on loopback
    destinations = json.dumps({"posthog": {"api_key": "phc_cli_key", "host": "http://127.0.0.1:12120"}})
    r = cli(
        "Integration.connect", "--provider", "analytics", "--destinations", destinations, "--events", "Integration.*",
        "--batch-size", "50", "--flush-interval", "0.5", "--collect", "false", "--json",
    )  # fmt: skip
    assert r.code == 0, r.err
    got = json.loads(r.out)
    assert got["slug"] == "analytics-posthog" and got["status"] == "Connected"
    assert {k: got["config"][k] for k in ("destinations", "events", "batch_size", "flush_interval", "collect")} == {
        "destinations": ["posthog"],
        "events": ["Integration.*"],
        "batch_size": 50,
        "flush_interval": 0.5,
        "collect": False,
    }
    assert "phc_cli_key" not in r.out
    bad = cli("Integration.connect", "--provider", "analytics", "--destinations", "{not json")
    assert bad.code != 0 and "destinations must be a JSON object" in bad.err and "Traceback" not in bad.err
    wrong = cli("Integration.connect", "--provider", "analytics", "--destinations", destinations, "--batch-size", "x")
    assert wrong.code != 0 and "batch_size must be an integer in [1, 1000]" in wrong.err
