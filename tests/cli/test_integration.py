"""``hubwire Integration.connect/sync/disconnect`` against a test provider, and ``providers``."""

from __future__ import annotations

import json
import re

from hubwire.cli.verbs import SyncBar
from hubwire.connectors.registry import ProviderContext, SyncProgress, default_registry
from hubwire.sync.runs import current_run
from tests.cli.conftest import GOOD_KEY, SIGNING_SECRET, Cli, CliTestProvider


def test_connect_with_camel_case_api_key_never_prints_the_key(cli: Cli, cli_provider: CliTestProvider) -> None:
    r = cli("Integration.connect", "--provider", "clitest", "--apiKey", GOOD_KEY, "--region", "eu")
    assert r.code == 0, r.err
    assert GOOD_KEY not in r.out + r.err
    assert "Connected" in r.out and "clitest" in r.out
    # The provider's revealed value is shown, once, with a note saying so.
    assert f"signing_secret: {SIGNING_SECRET}" in r.out
    assert "will not be shown again" in r.err
    assert "a first sync of integration_" in r.err and "--wait" in r.err

    r = cli("Integration.find", "--provider", "clitest", "--json")
    [integration] = json.loads(r.out)["data"]
    assert integration["status"] == "Connected" and integration["config"]["region"] == "eu"
    assert SIGNING_SECRET not in r.out and GOOD_KEY not in r.out

    # connect enqueued the initial sync in the same transaction
    jobs = json.loads(cli("jobs", "list", "--kind", "integration.sync", "--json").out)
    assert [j["payload"]["integration_id"] for j in jobs] == [integration["$id"]]


def test_connect_json_and_kebab_case(cli: Cli, cli_provider: CliTestProvider) -> None:
    r = cli("Integration.connect", "--provider", "clitest", "--api-key", GOOD_KEY, "--json")
    assert r.code == 0, r.err
    body = json.loads(r.out)
    assert body["status"] == "Connected" and body["signing_secret"] == SIGNING_SECRET
    assert GOOD_KEY not in r.out


def test_refused_key_is_one_line_without_the_key(cli: Cli, cli_provider: CliTestProvider) -> None:
    bad = "sk_test_WrongKey987654"
    r = cli("Integration.connect", "--provider", "clitest", "--api-key", bad)
    assert r.code == 1 and r.out == ""
    assert r.err.count("\n") == 1 and r.err.startswith("error: clitest refused the key")
    assert "(provider_auth_failed)" in r.err and bad not in r.err

    r = cli("Integration.connect", "--provider", "clitest", "--token", "x")
    assert r.code == 2 and "(validation_error)" in r.err and "token" in r.err
    r = cli("Integration.connect", "--provider", "nope", "--api-key", "x")
    assert r.code == 2 and "unknown provider 'nope'" in r.err


def test_sync_enqueues_by_default_and_runs_with_wait(cli: Cli, cli_provider: CliTestProvider) -> None:
    iid = json.loads(cli("Integration.connect", "--provider", "clitest", "--api-key", GOOD_KEY, "--json").out)["$id"]
    r = cli("Integration.sync", iid)
    assert r.code == 0, r.err
    assert f"queued a sync of {iid}" in r.out and "hubwire worker" in r.out
    assert json.loads(cli("Metric.find", "--json").out)["data"] == []

    cli_provider.records = 4
    r = cli("Integration.sync", iid, "--wait")
    assert r.code == 0, r.err
    assert "Synced" in r.out
    assert "sync done: 4 records" in r.err
    names = sorted(m["name"] for m in json.loads(cli("Metric.find", "--json").out)["data"])
    assert names == [f"clitest.m{i}" for i in range(4)]
    got = json.loads(cli("Integration.get", iid, "--json").out)
    assert got["status"] == "Synced" and got["last_sync_count"] == 4

    r = cli("Integration.disconnect", iid, "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["status"] == "Disconnected"
    r = cli("Integration.sync", iid, "--wait")
    assert r.code == 1 and "(illegal_transition)" in r.err


def test_sync_bar_tracks_each_noun_from_cumulative_counts() -> None:
    bar = SyncBar()
    with bar:
        bar.update("Customer", 1, 2)
        bar.update("Customer", 2, 2)
        bar.update("Invoice", 3, None)
        bar.update("Invoice", 5, 10)
    tasks = {t.description: t for t in bar.progress.tasks}
    assert tasks["Customer"].completed == 2 and tasks["Customer"].total == 2
    assert tasks["Invoice"].completed == 3 and tasks["Invoice"].total == 10
    assert bar.done == 5


def test_providers_lists_the_catalog(cli: Cli, cli_provider: CliTestProvider) -> None:
    r = cli("providers")
    assert r.code == 0
    row = next(line for line in r.out.splitlines() if "clitest" in line)
    assert "CLI Test" in row and "--api-key" in row
    listed = {p["slug"]: p for p in json.loads(cli("providers", "--json").out)}
    assert listed["clitest"]["connect_params"] == ["api_key", "region"] and listed["clitest"]["syncs"] is True


def test_runs_lists_the_sync_runs(cli: Cli, cli_provider: CliTestProvider) -> None:
    iid = json.loads(cli("Integration.connect", "--provider", "clitest", "--api-key", GOOD_KEY, "--json").out)["$id"]
    r = cli("runs", iid)
    assert r.code == 0 and "no sync runs" in r.err
    cli_provider.records = 3
    assert cli("Integration.sync", iid, "--wait").code == 0
    runs = json.loads(cli("runs", iid, "--json").out)
    assert [(x["status"], x["records"]) for x in runs] == [("succeeded", 3)]
    table = cli("runs", iid)
    assert table.code == 0 and runs[0]["id"] in table.out and "succeeded" in table.out
    missing = cli("runs", "integration_missing1")
    assert missing.code == 1 and "(not_found)" in missing.err


class ConflictingProvider(CliTestProvider):
    """Its sync records what a real one reports when both sides changed and records were deleted remotely."""

    slug = "conflicting"

    async def sync(self, ctx: ProviderContext, progress: SyncProgress) -> int:
        run = current_run()
        assert run is not None
        run.add("Metric", "conflicts", 2)
        run.add("Metric", "deleted", 5)
        run.add("Metric", "created", 1)
        return 8


def test_runs_table_shows_conflicts_and_deleted(cli: Cli) -> None:
    default_registry.register(ConflictingProvider())
    try:
        iid = json.loads(cli("Integration.connect", "--provider", "conflicting", "--api-key", GOOD_KEY, "--json").out)[
            "$id"
        ]
        assert cli("Integration.sync", iid, "--wait").code == 0
    finally:
        default_registry.unregister("conflicting")
    table = cli("runs", iid, "--json")
    assert json.loads(table.out)[0]["counts"]["Metric"]["conflicts"] == 2
    lines = cli("runs", iid).out.splitlines()

    def cells(word: str) -> list[str]:
        return [c.strip() for c in re.split("[│┃]", next(line for line in lines if word in line))[1:-1]]

    row = dict(zip(cells("status"), cells("succeeded"), strict=True))
    assert (row["created"], row["deleted"], row["conflicts"]) == ("1", "5", "2")
