"""``hubwire jobs``, ``events``, ``apikey``, ``migrate``, ``--import`` and the bind check, in process."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from hubwire import Hub, Noun, Settings
from hubwire.cli.events import tail_events
from hubwire.cli.runtime import redacted_url
from hubwire.jobs import Dead, Job, Worker, job_kind, queue
from hubwire.store.events import EventRecord
from tests.cli.conftest import Cli

DIES = "clitest.dies"
WORKS = "clitest.works"


@job_kind(DIES, max_attempts=1)
async def _dies(job: Job, hub: Hub) -> None:
    raise Dead(f"refused payload {job.payload['n']}")


@job_kind(WORKS)
async def _works(job: Job, hub: Hub) -> None:
    return None


def enqueue_and_drain(kinds: list[str]) -> None:
    async def go() -> None:
        async with Hub(Settings()) as hub:
            async with hub.transaction() as tx:
                for n, kind in enumerate(kinds):
                    await queue.enqueue(tx, kind, {"n": n})
            await Worker(hub).drain()

    asyncio.run(go())


def test_jobs_list_and_retry_dead_letters(cli_any_db: Cli) -> None:
    cli = cli_any_db
    enqueue_and_drain([DIES, WORKS, DIES])
    r = cli("jobs", "list", "--status", "dead", "--json")
    assert r.code == 0, r.err
    dead = json.loads(r.out)
    assert [j["kind"] for j in dead] == [DIES, DIES]
    assert dead[0]["last_error"] == "refused payload 2"

    r = cli("jobs", "list")
    assert r.code == 0 and "refused payload" in r.out and WORKS in r.out and "done" in r.out

    r = cli("jobs", "retry", str(dead[0]["id"]))
    assert r.code == 0 and f"requeued job {dead[0]['id']}" in r.out
    assert [j["id"] for j in json.loads(cli("jobs", "list", "--status", "queued", "--json").out)] == [dead[0]["id"]]

    r = cli("jobs", "retry", "--dead", "--kind", WORKS)
    assert r.code == 0 and "requeued 0 dead jobs" in r.out
    r = cli("jobs", "retry", "--dead", "--since", "2000-01-01T00:00:00Z")
    assert r.code == 0 and "requeued 1 dead job" in r.out
    assert json.loads(cli("jobs", "list", "--status", "dead", "--json").out) == []


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["jobs", "retry"], "give a job ID or --dead"),
        (["jobs", "retry", "1", "--dead"], "give a job ID or --dead"),
        (["jobs", "retry", "--dead", "--since", "yesterday"], "--since must be an ISO 8601"),
        (["jobs", "list", "--status", "stuck"], "--status must be one of"),
        (["jobs", "list", "--limit", "0"], "(usage_error)"),
    ],
)
def test_jobs_usage_errors(cli: Cli, args: list[str], needle: str) -> None:
    r = cli(*args)
    assert r.code == 2 and r.err.startswith("error: ") and needle in r.err and r.err.count("\n") == 1


def test_jobs_retry_of_a_missing_job(cli: Cli) -> None:
    r = cli("jobs", "retry", "424242")
    assert r.code == 1 and r.err == "error: no job 424242 (not_found)\n"


def test_events_tail_after_types_and_json_lines(cli: Cli) -> None:
    Noun("Deal", {"name": "string!", "close": "Closed", "stage": "Open | Closed"})
    ids = [json.loads(cli("Deal.create", "--name", f"d{i}", "--json").out)["$id"] for i in range(3)]
    cli("Deal.close", ids[0])
    cli("Metric.create", "--name", "m")

    r = cli("events", "tail", "--json", "--after", "0")
    assert r.code == 0, r.err
    lines = [json.loads(line) for line in r.out.splitlines()]
    assert [e["event"] for e in lines] == ["Deal.Created"] * 3 + ["Deal.Closed", "Metric.Created"]
    assert [e["seq"] for e in lines] == sorted(e["seq"] for e in lines)

    r = cli("events", "tail", "--json", "--after", str(lines[1]["seq"]), "--types", "Deal.*")
    assert [e["entity_id"] for e in map(json.loads, r.out.splitlines())] == [ids[2], ids[0]]
    r = cli("events", "tail", "--json", "--types", "Deal.Closed,Metric.*", "--after", "0")
    assert [e["event"] for e in map(json.loads, r.out.splitlines())] == ["Deal.Closed", "Metric.Created"]

    # Without --after: the last --limit events, as text lines.
    r = cli("events", "tail", "--limit", "2")
    assert r.code == 0
    out = r.out.splitlines()
    assert len(out) == 2 and "Deal.Closed" in out[0] and "Metric.Created" in out[1] and ids[0] in out[0]


async def test_events_follow_prints_new_events_until_stopped(hub: Hub) -> None:
    Deal = Noun("Deal", {"name": "string!"})
    await Deal.create(name="before")
    seen: list[EventRecord] = []
    stop = asyncio.Event()
    task = asyncio.create_task(tail_events(hub, seen.append, after=None, follow=True, interval=0.02, stop=stop))
    for name in ("one", "two"):
        await Deal.create(name=name)
    for _ in range(200):
        if len(seen) >= 3:
            break
        await asyncio.sleep(0.01)
    stop.set()
    last = await asyncio.wait_for(task, 2)
    assert [e.data["name"] for e in seen] == ["before", "one", "two"]
    assert last == seen[-1].seq


def test_apikey_create_list_revoke(cli: Cli) -> None:
    r = cli("apikey", "create", "--name", "ci")
    assert r.code == 0, r.err
    key = r.out.strip()
    assert key.startswith("hw_") and len(r.out.splitlines()) == 1
    assert "will not be shown again" in r.err

    listed = json.loads(cli("apikey", "list", "--json").out)
    assert [(k["name"], k["revoked_at"]) for k in listed] == [("ci", None)]
    assert key.split("_")[1] == listed[0]["prefix"]
    table = cli("apikey", "list").out
    assert listed[0]["id"] in table and key not in table

    r = cli("apikey", "revoke", listed[0]["id"])
    assert r.code == 0 and "revoked" in r.out
    assert json.loads(cli("apikey", "list", "--json").out)[0]["revoked_at"] is not None
    again = cli("apikey", "revoke", listed[0]["id"])
    assert again.code == 1 and "(not_found)" in again.err

    made = json.loads(cli("apikey", "create", "--json").out)
    assert made["key"].startswith(f"hw_{made['prefix']}_") and made["name"] == "default"


def test_migrate_names_the_database_without_its_password(
    cli: Cli, cli_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh = cli_env / "fresh.db"
    monkeypatch.setenv("HUBWIRE_DATABASE_URL", f"sqlite:///{fresh}")
    r = cli("migrate")
    assert r.code == 0, r.err
    assert f"sqlite:///{fresh}" in r.out and fresh.exists()
    assert (
        redacted_url("postgresql://hub:s3cret-pw@db.internal:5432/hub") == "postgresql://hub:***@db.internal:5432/hub"
    )


def test_migrate_reports_a_bad_database_url_as_configuration(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUBWIRE_DATABASE_URL", "mysql://u:hunter22@localhost/x")
    r = cli("migrate")
    assert r.code == 2 and "(configuration_error)" in r.err and "hunter22" not in r.err


@pytest.fixture
def user_module(cli_env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    name = f"cli_user_{uuid.uuid4().hex[:8]}"
    (cli_env / f"{name}.py").write_text(
        "from hubwire import Noun\n"
        "Widget = Noun('Widget', {'name': 'string!', 'size': 'integer', 'spin': 'Spun', "
        "'state': 'Idle | Spun'})\n"
    )
    monkeypatch.chdir(cli_env)
    monkeypatch.setattr(sys, "path", list(sys.path))  # --import puts the cwd on it
    yield name
    sys.modules.pop(name, None)


def test_import_option_loads_user_nouns(cli: Cli, user_module: str) -> None:
    assert cli("Widget.create", "--name", "w").code == 2
    r = cli("--import", user_module, "Widget.create", "--name", "w", "--size", "3", "--json")
    assert r.code == 0, r.err
    widget = json.loads(r.out)
    assert widget["size"] == 3
    r = cli("Widget.spin", widget["$id"], "--import", user_module, "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["state"] == "Spun"


def test_hubwire_import_env_loads_user_nouns(cli: Cli, user_module: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUBWIRE_IMPORT", f"json, {user_module}")
    r = cli("nouns")
    assert r.code == 0 and "Widget" in r.out and "spin" in r.out


def test_import_of_a_missing_module_is_a_usage_error(cli: Cli) -> None:
    r = cli("--import", "no_such_module_hw", "nouns")
    assert r.code == 2
    assert (
        r.err == "error: cannot import module 'no_such_module_hw': No module named 'no_such_module_hw' (usage_error)\n"
    )


def test_serve_refuses_a_public_bind_without_auth(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUBWIRE_AUTH", "disabled")
    r = cli("serve", "--host", "0.0.0.0", "--port", "1")
    assert r.code == 2 and r.out == ""
    assert r.err.startswith("error: refusing to serve on 0.0.0.0 with HUBWIRE_AUTH=disabled")
    assert r.err.count("\n") == 1


def test_database_mistakes_are_named(cli: Cli, cli_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUBWIRE_AUTO_MIGRATE", "0")
    monkeypatch.setenv("HUBWIRE_DATABASE_URL", f"sqlite:///{cli_env / 'empty.db'}")
    r = cli("Metric.find")
    assert r.code == 1 and r.err.count("\n") == 1
    assert "run `hubwire migrate` (database_not_migrated)" in r.err

    monkeypatch.setenv("HUBWIRE_DATABASE_URL", "postgresql://hub:pw-s3cret@127.0.0.1:1/hub")
    r = cli("migrate")
    assert r.code == 1 and r.err.startswith("error: cannot reach the database") and "pw-s3cret" not in r.err
    assert r.err.rstrip().endswith("(database_unavailable)")
