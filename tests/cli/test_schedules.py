"""``hubwire Integration.connect --sync-frequency``, ``Integration.get`` showing the next run,
``Integration.sync --confirm-deletions`` and ``runs`` showing a held run's summary."""

from __future__ import annotations

import json

from tests.cli.conftest import GOOD_KEY, Cli, CliTestProvider


def test_frequency_at_connect_next_run_in_get_and_bad_ones_refused(cli: Cli, cli_provider: CliTestProvider) -> None:
    r = cli(
        "Integration.connect", "--provider", "clitest", "--api-key", GOOD_KEY, "--sync-frequency", "every 2h", "--json"
    )
    assert r.code == 0, r.err
    body = json.loads(r.out)
    iid = body["$id"]
    assert body["sync_frequency"] == "every 2h" and body["next_sync_at"]
    r = cli("Integration.get", iid)
    assert r.code == 0 and "next_sync_at" in r.out and "every 2h" in r.out and "next_reconcile_at" in r.out

    r = cli("Integration.update", iid, "--sync-frequency", "every 5s")
    assert r.code != 0
    first = r.err.splitlines()[0]
    assert first.startswith("error: sync_frequency") and first.endswith("(validation_error)")
    assert "Traceback" not in r.err
    r = cli("Integration.update", iid, "--sync-frequency", "*/30 * * * *", "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["sync_frequency"] == "*/30 * * * *"


def test_sync_confirm_deletions_is_a_full_run(cli: Cli, cli_provider: CliTestProvider) -> None:
    iid = json.loads(cli("Integration.connect", "--provider", "clitest", "--api-key", GOOD_KEY, "--json").out)["$id"]
    r = cli("Integration.sync", iid, "--confirm-deletions", "--wait")
    assert r.code == 0, r.err
    r = cli("runs", iid, "--json")
    assert r.code == 0
    assert json.loads(r.out)[0]["full"] is True and json.loads(r.out)[0]["status"] == "succeeded"
    r = cli("runs", iid)
    assert r.code == 0 and "full" in r.out and "summary" in r.out
