"""``hubwire Integration.connect --provider github`` and GitHub-backed verbs from the command line."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import hubwire.connectors.github  # noqa: F401 - registers the provider and its writers
from hubwire.simulators.github import DEFAULT_TOKEN, GitHubSimulator
from tests.cli.conftest import Cli, cli, cli_env  # noqa: F401 - fixtures

__all__ = ["simulator_thread"]


@contextmanager
def simulator_thread() -> Iterator[GitHubSimulator]:
    """A GitHub simulator serving from its own event loop in a thread (the CLI runs its own loop)."""
    loop = asyncio.new_event_loop()
    sim = GitHubSimulator()
    started = threading.Event()
    stop: asyncio.Event | None = None

    async def serve() -> None:
        nonlocal stop
        stop = asyncio.Event()
        async with sim:
            started.set()
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    assert started.wait(30), "the simulator did not start"
    try:
        yield sim
    finally:
        assert stop is not None
        loop.call_soon_threadsafe(stop.set)
        thread.join(30)
        loop.close()
    assert not sim.mismatches, sim.mismatches


def test_cli_connects_syncs_and_completes_an_issue(cli: Cli) -> None:  # noqa: F811
    with simulator_thread() as sim:
        sim.seed_repo(sim.login, "app")
        sim.seed_issue(sim.login, "app", title="Crash on start")
        r = cli(
            "Integration.connect", "--provider", "github", "--token", DEFAULT_TOKEN, "--api-base-url", sim.url, "--json"
        )
        assert r.code == 0, r.err
        assert DEFAULT_TOKEN not in r.out + r.err
        iid = json.loads(r.out)["$id"]
        r = cli("Integration.sync", iid, "--wait")
        assert r.code == 0, r.err
        assert "Synced" in r.out
        [issue] = json.loads(cli("Issue.find", "--json").out)["data"]
        assert issue["title"] == "Crash on start" and issue["status"] == "Open"
        r = cli("Issue.complete", issue["$id"], "--json")
        assert r.code == 0, r.err
        assert json.loads(r.out)["status"] == "Completed"
        assert sim.issue(sim.login, "app", 1)["state"] == "closed"
