"""``hubwire conflicts list|show|resolve`` on a conflict a sync parked, and ``--conflicts`` at connect."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any, ClassVar

import pytest

from hubwire.connectors.registry import ProviderContext, SyncProgress, default_registry
from hubwire.nouns.noun import Noun
from hubwire.sync.engine import Batch, Stream, pull
from hubwire.sync.upsert import Incoming
from tests.cli.conftest import GOOD_KEY, Cli
from tests.fakes import ApiKeyProvider

Memo = Noun("Memo", {"title": "string!", "body": "string"})


class Memos(ApiKeyProvider):
    """Its sync pulls ``remote`` (remote id -> fields) as Memos: a provider held in memory."""

    slug = "memos"
    name = "Memos"
    remote: ClassVar[dict[str, dict[str, Any]]] = {}

    async def sync(self, ctx: ProviderContext, progress: SyncProgress) -> int:
        async def pages(state: dict[str, Any]) -> AsyncIterator[Batch]:
            yield Batch([Incoming(rid, dict(fields)) for rid, fields in self.remote.items()], {})

        return await pull(ctx, progress, [Stream("memo", Memo, pages)])


@pytest.fixture
def memos() -> Iterator[type[Memos]]:
    Memos.remote = {"m1": {"title": "Plan", "body": "draft"}}
    default_registry.register(Memos())
    yield Memos
    default_registry.unregister(Memos.slug)


def test_list_show_and_resolve_a_parked_conflict(cli: Cli, memos: type[Memos]) -> None:
    bad = cli(
        "Integration.connect", "--provider", "memos", "--api-key", GOOD_KEY, "--conflicts", '{"Memo": "sometimes"}'
    )
    assert bad.code != 0 and "conflicts.Memo" in bad.err and "sometimes" in bad.err
    r = cli(
        "Integration.connect",
        "--provider",
        "memos",
        "--api-key",
        GOOD_KEY,
        "--conflicts",
        '{"Memo.body": "manual"}',
        "--json",
    )
    assert r.code == 0, r.err
    iid = json.loads(r.out)["$id"]
    assert json.loads(r.out)["config"]["conflicts"] == {"Memo.body": "manual"}
    assert cli("Integration.sync", iid, "--wait").code == 0
    [memo] = json.loads(cli("Memo.find", "--json").out)["data"]
    assert cli("Memo.update", memo["$id"], "--body", "local words").code == 0
    memos.remote["m1"] = {"title": "Plan", "body": "remote words"}
    assert cli("Integration.sync", iid, "--wait").code == 0

    listed = cli("conflicts", "list", "--status", "open", "--json")
    [conflict] = json.loads(listed.out)
    assert conflict["entity_id"] == memo["$id"] and conflict["fields"]["body"]["outcome"] is None
    table = cli("conflicts", "list")
    assert "open" in table.out and "Memo" in table.out
    shown = cli("conflicts", "show", str(conflict["id"]))
    assert shown.code == 0 and "local words" in shown.out and "remote words" in shown.out and "draft" in shown.out
    assert cli("conflicts", "list", "--status", "weird").code != 0
    assert cli("conflicts", "resolve", str(conflict["id"])).code != 0  # no decision given

    done = cli(
        "conflicts",
        "resolve",
        str(conflict["id"]),
        "--value",
        "body=agreed words",
        "--reason",
        "merged by hand",
        "--json",
    )
    assert done.code == 0, done.err
    body = json.loads(done.out)
    assert (body["status"], body["resolved_by"], body["reason"]) == ("resolved", "cli", "merged by hand")
    assert json.loads(cli("Memo.get", memo["$id"], "--json").out)["body"] == "agreed words"
    again = cli("conflicts", "resolve", str(conflict["id"]), "--take", "local")
    assert again.code != 0 and "(conflict_resolved)" in again.err
    missing = cli("conflicts", "show", "424242")
    assert missing.code != 0 and "(not_found)" in missing.err
