"""``hubwire apikey create --collect-only``, ``hubwire analytics deliveries`` and the lakehouse's commands."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from hubwire import lakehouse
from hubwire.hub import Hub
from tests.cli.conftest import Cli
from tests.lakehouse.conftest import collect, events


def test_collect_only_makes_a_publishable_collect_key(cli: Cli) -> None:
    made = json.loads(cli("apikey", "create", "--name", "site", "--collect-only", "--json").out)
    assert made["scope"] == "collect" and made["key"].startswith(f"pk_{made['prefix']}_")
    r = cli("apikey", "create", "--collect-only")
    assert r.code == 0 and "scope collect" in r.err and "collect.js" in r.err and r.out.startswith("pk_")


def test_analytics_deliveries_lists_the_log(cli: Cli) -> None:
    r = cli("analytics", "deliveries")
    assert r.code == 0 and "no deliveries" in r.err
    assert json.loads(cli("analytics", "deliveries", "--json").out) == {"data": [], "outbox": {}}


def test_lakehouse_query_export_and_compact(cli: Cli, tmp_path: Path) -> None:
    assert json.loads(cli("analytics", "query", "select count(*) as n from events", "--json").out)["rows"] == [[0]]

    async def fill() -> None:
        async with Hub() as hub:  # the CLI's environment: its database and data directory
            for start in (1.8e9, 1.8e9 + 60):  # two appends: two files of one day
                await collect(hub, events(10, start=start))
                await lakehouse.append_pending(hub)

    asyncio.run(fill())
    table = cli("analytics", "query", "select event, count(*) as n from events group by 1 order by 1")
    assert table.code == 0 and "page_view" in table.out and "signup" in table.out
    rows = json.loads(
        cli("analytics", "query", "select event, count(*) from events group by 1 order by 1", "--json").out
    )
    assert rows["rows"] == [["page_view", 10], ["signup", 10]]
    refused = cli("analytics", "query", "copy events to 'x.csv'")
    assert refused.code != 0 and refused.err.startswith("error: only a SELECT may run here, not COPY (query_refused)")
    out = tmp_path / "e.parquet"
    r = cli("analytics", "export", "--format", "parquet", "--out", str(out))
    assert r.code == 0 and "20 events written" in r.err and pq.read_table(out).num_rows == 20
    csv_out = tmp_path / "e.csv"
    assert cli("analytics", "export", "--format", "csv", "--since", "2027-01-16", "--out", str(csv_out)).code == 0
    assert csv_out.read_text().startswith('"id","event","timestamp"')
    bad = cli("analytics", "export", "--format", "xlsx", "--out", str(out))
    assert bad.code != 0 and "parquet or csv" in bad.err
    assert json.loads(cli("analytics", "lakehouse", "--json").out)["files"] == 2
    compacted = cli("analytics", "compact")
    assert compacted.code == 0 and "1 days compacted (2 files into 1)" in compacted.err
    after = json.loads(cli("analytics", "lakehouse", "--json").out)
    assert after["files"] == 1 and after["rows"] == 20


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
