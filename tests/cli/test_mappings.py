"""``hubwire mappings fields|show|set|versions`` against the Pipedrive simulator (served from a thread)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from hubwire.simulators.pipedrive import DEFAULT_API_TOKEN, PipedriveSimulator
from tests.cli.conftest import Cli
from tests.simulators.crm_fixtures import assert_no_mismatches


@pytest.fixture
def sim(monkeypatch: pytest.MonkeyPatch) -> Iterator[PipedriveSimulator]:
    monkeypatch.setenv("HUBWIRE_ALLOW_PRIVATE_NETWORKS", "1")
    served = PipedriveSimulator()
    with served.serving_in_thread():
        yield served
    assert_no_mismatches(served)


def test_fields_set_show_and_versions(cli: Cli, sim: PipedriveSimulator, tmp_path: Path) -> None:
    tier = sim.add_field("persons", "Tier", "enum", options=["Gold", "Silver"])
    sim.seed("persons", name="Gold Person", **{tier: 1})
    r = cli(
        "Integration.connect",
        "--provider",
        "pipedrive",
        "--api-token",
        DEFAULT_API_TOKEN,
        "--api-base-url",
        sim.url,
        "--json",
    )
    assert r.code == 0, r.err
    iid = json.loads(r.out)["$id"]

    table = cli("mappings", "fields", iid, "--noun", "Contact", "--custom")
    assert table.code == 0 and tier in table.out and "1 (Gold)" in table.out and "first_name" not in table.out
    listed = json.loads(cli("mappings", "fields", iid, "--noun", "Contact", "--json").out)
    assert {f["name"] for f in listed} >= {tier, "first_name", "email"}

    bad = cli("mappings", "set", iid, "--noun", "Contact", json.dumps([{"remote": tier, "field": "emails"}]))
    assert bad.code != 0 and "Contact[0].transform" in bad.err and "Traceback" not in bad.err
    assert "no field mappings" in cli("mappings", "show", iid).err
    assert cli("mappings", "set", iid, "--noun", "Contact").code != 0  # neither --file nor inline JSON
    assert cli("mappings", "set", iid, "--noun", "Contact", "[not json").code != 0

    file = tmp_path / "m.json"
    file.write_text(
        json.dumps(
            [{"remote": tier, "field": "lifecycleStage", "transform": {"type": "enum", "map": {"Gold": "customer"}}}]
        )
    )
    saved = cli("mappings", "set", iid, "--noun", "Contact", "--file", str(file))
    assert saved.code == 0 and "version 1" in saved.out
    shown = cli("mappings", "show", iid)
    assert "lifecycle_stage" in shown.out and "1->customer" in shown.out
    assert json.loads(cli("mappings", "show", iid, "--json").out)["Contact"][0]["remote"] == tier
    versions = json.loads(cli("mappings", "versions", iid, "--json").out)
    assert [(v["version"], v["saved_by"]) for v in versions] == [(1, "cli")]
    assert "Contact (1)" in cli("mappings", "versions", iid).out

    assert cli("Integration.sync", iid, "--wait").code == 0
    [person] = json.loads(cli("Contact.find", "--json").out)["data"]
    assert person["lifecycle_stage"] == "customer"
