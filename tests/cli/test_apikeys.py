"""``hubwire apikey create --scope``: admin unless told otherwise, and ``list`` shows each key's scope."""

from __future__ import annotations

import json

from tests.cli.conftest import Cli


def test_create_takes_a_scope_and_list_shows_it(cli: Cli) -> None:
    r = cli("apikey", "create", "--name", "dashboard", "--scope", "read")
    assert r.code == 0, r.err
    assert "scope read" in r.err
    made = json.loads(cli("apikey", "create", "--name", "ci", "--scope", "write", "--json").out)
    assert made["scope"] == "write" and made["key"].startswith(f"hw_{made['prefix']}_")

    listed = json.loads(cli("apikey", "list", "--json").out)
    assert [(k["name"], k["scope"]) for k in listed] == [("dashboard", "read"), ("ci", "write")]
    table = cli("apikey", "list").out
    assert "scope" in table.splitlines()[1] and "read" in table and "write" in table


def test_create_without_a_scope_makes_an_admin_key(cli: Cli) -> None:
    r = cli("apikey", "create")
    assert r.code == 0 and "scope admin" in r.err
    assert [k["scope"] for k in json.loads(cli("apikey", "list", "--json").out)] == ["admin"]


def test_an_unknown_scope_is_one_line_and_makes_nothing(cli: Cli) -> None:
    r = cli("apikey", "create", "--scope", "root")
    assert r.code == 2 and r.out == ""
    assert len(r.err.strip().splitlines()) == 1 and "'read', 'write', 'admin'" in r.err
    assert json.loads(cli("apikey", "list", "--json").out) == []
