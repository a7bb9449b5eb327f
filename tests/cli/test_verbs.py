"""The ``hubwire Noun.verb`` syntax, in process: parsing, coercion, output and errors."""

from __future__ import annotations

import json

import pytest

import hubwire
from hubwire import Noun
from tests.cli.conftest import Cli
from tests.fakes import deal_noun


def cli_deal() -> Noun:
    """The shared Deal, with fields whose options the CLI spells (a list, a boolean flag, camelCase, JSON)."""
    extra = {"tags": "string[]", "hot": "boolean", "externalUrl": "string", "meta": "json"}
    return deal_noun(extra, defaults={"stage": "Open"})


def test_help_mentions_the_verb_syntax(cli: Cli) -> None:
    r = cli("--help")
    assert r.code == 0
    assert "Noun.verb" in r.out and "Integration.connect" in r.out
    for command in ("serve", "worker", "migrate", "apikey", "jobs", "events", "providers"):
        assert command in r.out
    r = cli("--version")
    assert r.code == 0 and r.out == f"hubwire {hubwire.__version__}\n"


def test_create_update_custom_verb_delete_round_trip(cli_any_db: Cli) -> None:
    cli = cli_any_db
    cli_deal()
    r = cli("Deal.create", "--name", "Acme", "--value", "3", "--json")
    assert r.code == 0, r.err
    created = json.loads(r.out)
    assert created["name"] == "Acme" and created["value"] == 3 and created["stage"] == "Open"
    did = created["$id"]

    r = cli("Deal.update", did, "--value", "4.5", "--version", "1", "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["value"] == 4.5 and json.loads(r.out)["version"] == 2

    stale = cli("Deal.update", did, "--value", "5", "--version", "1")
    assert stale.code == 1 and stale.out == ""
    assert stale.err.startswith("error: ") and "(version_conflict)" in stale.err

    r = cli("Deal.close", did)
    assert r.code == 0, r.err
    assert "Closed" in r.out and did in r.out  # a table by default

    illegal = cli("Deal.close", did)
    assert illegal.code == 1 and "(illegal_transition)" in illegal.err

    r = cli("Deal.get", did, "--json")
    assert json.loads(r.out)["stage"] == "Closed"

    r = cli("Deal.delete", did)
    assert r.code == 0 and f"deleted Deal {did}" in r.out
    gone = cli("Deal.get", did)
    assert gone.code == 1 and "(not_found)" in gone.err


def test_kebab_camel_lists_booleans_and_json_fields(cli: Cli) -> None:
    cli_deal()
    r = cli(
        "Deal.create",
        "--name=Globex",
        "--external-url",
        "https://example.test/a",
        "--tags",
        "a,b",
        "--tags",
        "c",
        "--hot",
        "--meta",
        '{"k": [1, 2]}',
        "--json",
    )
    assert r.code == 0, r.err
    d = json.loads(r.out)
    assert d["external_url"] == "https://example.test/a"
    assert d["tags"] == ["a", "b", "c"] and d["hot"] is True and d["meta"] == {"k": [1, 2]}

    r = cli("Deal.update", d["$id"], "--externalUrl", "https://example.test/b", "--no-hot", "--json")
    assert r.code == 0, r.err
    u = json.loads(r.out)
    assert u["external_url"] == "https://example.test/b" and u["hot"] is False
    # find: camelCase filter options, --filter keys and --sort read the same fields.
    cli("Deal.create", "--name", "Initech", "--externalUrl", "https://example.test/c")
    by_option = json.loads(cli("Deal.find", "--externalUrl", "https://example.test/b", "--json").out)["data"]
    assert [x["name"] for x in by_option] == ["Globex"]
    by_filter = cli("Deal.find", "--filter", '{"externalUrl": {"$exists": true}}', "--sort", "-externalUrl", "--json")
    assert [x["name"] for x in json.loads(by_filter.out)["data"]] == ["Initech", "Globex"]

    # A boolean flag followed by the id: the flag is a switch, the id stays positional.
    r = cli("Deal.update", "--hot", d["$id"], "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["hot"] is True


def test_find_filters_sorts_pages_and_prints_a_table_or_json(cli_any_db: Cli) -> None:
    cli = cli_any_db
    cli_deal()
    for name, value in [("a", 1), ("b", 5), ("c", 9), ("d", 7)]:
        assert cli("Deal.create", "--name", name, "--value", str(value)).code == 0
    cli("Deal.close", json.loads(cli("Deal.find", "--name", "d", "--json").out)["data"][0]["$id"])

    r = cli("Deal.find", "--stage", "Open", "--sort", "-value", "--json")
    assert r.code == 0, r.err
    assert [e["name"] for e in json.loads(r.out)["data"]] == ["c", "b", "a"]

    r = cli("Deal.find", "--filter", '{"value": {"$gte": 5}}', "--sort", "value", "--limit", "1", "--json")
    page = json.loads(r.out)
    assert [e["name"] for e in page["data"]] == ["b"] and page["has_more"] is True
    r = cli("Deal.find", "--filter", '{"value": {"$gte": 5}}', "--sort", "value", "--cursor", page["next_cursor"])
    assert r.code == 0, r.err
    header = next(line for line in r.out.splitlines() if "$id" in line)
    # Columns: $id and the fields that have a value in some row, nothing else.
    assert [c.strip() for c in header.strip("┃ ").split("┃")] == ["$id", "name", "value", "stage"]
    names = [line.split("│")[2].strip() for line in r.out.splitlines() if line.startswith("│")]
    assert names == ["d", "c"]

    r = cli("Deal.find", "--name", "a", "--name", "c", "--json")
    assert sorted(e["name"] for e in json.loads(r.out)["data"]) == ["a", "c"]


def test_find_on_an_empty_database_prints_an_empty_page(cli: Cli) -> None:
    r = cli("Integration.find", "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out) == {"data": [], "has_more": False, "next_cursor": None}


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["Deal.create", "--value", "3"], "name: name is required"),
        (["Deal.create", "--name", "x", "--value", "lots"], "value: value must be a number"),
        (["Deal.create", "--name", "x", "--colour", "red"], "colour: Deal has no field 'colour'"),
        (["Deal.create", "--name", "x", "--stage", "Pending"], "stage: stage must be one of: Open, Closed, Lost"),
    ],
)
def test_validation_errors_are_one_line_plus_fields_and_exit_2(cli: Cli, args: list[str], needle: str) -> None:
    cli_deal()
    r = cli(*args)
    assert r.code == 2 and r.out == ""
    lines = r.err.splitlines()
    assert lines[0].startswith("error: ") and lines[0].endswith("(validation_error)")
    assert all(line.startswith("  ") for line in lines[1:])
    assert needle in r.err
    assert "Traceback" not in r.err


def test_usage_errors_list_what_exists(cli: Cli) -> None:
    cli_deal()
    r = cli("Nope.create")
    assert r.code == 2 and r.err.count("\n") == 1
    assert "unknown Noun 'Nope'" in r.err and "Deal" in r.err and "Integration" in r.err
    r = cli("Deal.frob", "x")
    assert r.code == 2 and "Deal has no verb 'frob'" in r.err and "close" in r.err and "find" in r.err
    r = cli("Deal.get")
    assert r.code == 2 and "takes one Deal id" in r.err
    r = cli("Deal.find", "--limit", "many")
    assert r.code == 2 and "--limit must be an integer" in r.err
    r = cli("Deal.find", "--filter", "{nope")
    assert r.code == 2 and "--filter must be a JSON object" in r.err
    r = cli("Deal.update", "deal_x", "--version")
    assert r.code == 2 and "--version needs a value" in r.err
    r = cli("jobs", "frob")
    assert r.code == 2 and r.err.startswith("error: ") and "(usage_error)" in r.err


def test_verb_help_lists_the_fields(cli: Cli) -> None:
    cli_deal()
    r = cli("Deal.create", "--help")
    assert r.code == 0
    assert "--external-url" in r.out and "Open | Closed | Lost" in r.out and "(required)" in r.out
    r = cli("Integration.connect", "-h")
    assert r.code == 0 and "--provider" in r.out and "--api-key" in r.out


def test_noun_help_lists_its_verbs(cli: Cli) -> None:
    deal_noun()
    for args in (("Deal", "--help"), ("Deal", "-h"), ("Deal",)):
        r = cli(*args)
        assert r.code == 0, r.err
        listed = {line.split()[0]: line.split()[1:] for line in r.out.splitlines() if line.startswith("  Deal.")}
        assert list(listed) == [
            "Deal.create",
            "Deal.get",
            "Deal.find",
            "Deal.update",
            "Deal.delete",
            "Deal.close",
            "Deal.lose",
        ]
        assert listed["Deal.close"] == ["emits", "Deal.Closed"]
    r = cli("Integration", "--help")
    assert r.code == 0 and "Integration.connect" in r.out and "Integration.sync" in r.out


def test_connect_help_lists_each_providers_credentials_and_config(cli: Cli) -> None:
    r = cli("Integration.connect", "--help")
    assert r.code == 0
    rows = {line.split()[0]: line for line in r.out.splitlines() if line.startswith("  ") and "--" in line}
    assert "--api-key (secret, required)" in rows["stripe"] and "--rate-limit" in rows["stripe"]
    assert "--token (secret, required)" in rows["github"] and "--repos" in rows["github"]
    assert "--secret (secret)" in rows["webhook"] and "--url" in rows["webhook"] and "--events" in rows["webhook"]


def test_unexpected_errors_are_one_line_with_a_debug_hint(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    deal = cli_deal()

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk on fire\nsecond line")

    monkeypatch.setattr(deal, "find", broken)
    r = cli("Deal.find")
    assert r.code == 1
    assert r.err == "error: unexpected RuntimeError: disk on fire (set HUBWIRE_DEBUG=1 to see the traceback)\n"
    monkeypatch.setenv("HUBWIRE_DEBUG", "1")
    r = cli("Deal.find")
    assert r.code == 1 and "Traceback" in r.err and r.err.rstrip().endswith("RuntimeError: disk on fire")


def test_nouns_lists_nouns_and_verbs(cli: Cli) -> None:
    cli_deal()
    r = cli("nouns")
    assert r.code == 0
    row = next(line for line in r.out.splitlines() if " Deal " in line)
    assert "close" in row and "tags" in row  # the cell is cut at its width: external_url is past it
