"""``hubwire apikey create --collect-only`` and ``hubwire analytics deliveries``."""

from __future__ import annotations

import json

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
