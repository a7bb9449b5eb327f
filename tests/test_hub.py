"""The Hub's wiring: per-hub services in one typed slot, and the process-wide declarations."""

from __future__ import annotations

from pathlib import Path

import hubwire
from hubwire import declarations
from hubwire.extensions import on_hub
from hubwire.hub import Hub
from hubwire.jobs.kinds import job_kind, kinds
from hubwire.net.http import HttpClient, http_client, use_http_client


class Pool:
    def __init__(self) -> None:
        self.closed = False

    async def close(self) -> None:
        self.closed = True


async def test_a_service_is_made_once_per_hub_and_closed_with_it(tmp_path: Path) -> None:
    one, two = (Hub(database_url=f"sqlite:///{tmp_path / n}.db", data_dir=tmp_path) for n in ("a", "b"))
    pool = one.service(Pool)
    assert one.service(Pool) is pool and two.service(Pool) is not pool
    made = one.service(list, lambda: [1])
    assert one.service(list) is made
    client = http_client(one)
    assert http_client(one) is client and one.service(HttpClient) is client
    await one.close()
    assert pool.closed and not two.service(Pool).closed
    assert one.service(Pool) is not pool  # a closed hub starts afresh
    await one.close()
    await two.close()


async def test_a_provided_service_replaces_the_first_and_both_are_closed(tmp_path: Path) -> None:
    hub = Hub(database_url=f"sqlite:///{tmp_path / 'h.db'}", data_dir=tmp_path)
    first, second = Pool(), Pool()
    hub.provide(Pool, first)
    assert hub.provide(Pool, second) is second and hub.service(Pool) is second
    injected = use_http_client(hub, HttpClient(timeout=1.0))
    assert http_client(hub) is injected
    await hub.close()
    assert first.closed and second.closed


def test_one_snapshot_restores_every_declaration() -> None:
    saved = declarations.snapshot()
    Thing = hubwire.Noun("Thing", {"name": "string"})
    hubwire.Integration.connected(lambda i: None)
    hubwire.on("Thing.*")(lambda t: None)
    job_kind("thing.made")(lambda job, hub: None)  # type: ignore[arg-type,return-value]
    on_hub(lambda hub: None)
    assert "Thing" in declarations.nouns and Thing.hooks.before["create"] == []
    assert "thing.made" in kinds()
    declarations.restore(saved)
    assert "Thing" not in declarations.nouns and "thing.made" not in kinds()
    assert declarations.nouns["Integration"].hooks.after["connect"] == saved.hooks["Integration"].after["connect"]
    assert declarations.subscriptions == saved.subscriptions and declarations.extensions == saved.extensions
