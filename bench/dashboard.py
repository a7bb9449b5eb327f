"""How fast each dashboard page renders with 100,000 entities in the database, against a 300 ms limit.

Run by hand (not a test): ``.venv/bin/python bench/dashboard.py [--entities 100000] [--only sqlite postgresql]``.

For each database: a fresh hub holds ``--entities`` Widgets (written a page of 1,000 at a time
through the sync's apply path, so each has its ``Widget.Created`` event: 100,000 entities and
100,000 events), 20 Integrations (webhook endpoints), 2,000 webhook deliveries and a Pipedrive
connection to the simulator on loopback with 20 custom fields and 10 saved mapping versions (its
field mappings page asks the simulator for the fields on every render). A signed-in
admin session then asks each page ``--repeat`` times over HTTP in process (the app's whole stack:
middleware, session and key lookup, queries, template); the figure is the median and the slowest
time per page, and the slowest page's share of the limit (under 1.0: every page is in time).
"""

from __future__ import annotations

import sys

# bench/queue.py is named like the stdlib module asyncio needs: keep bench/ off the path.
if sys.path and sys.path[0] == __import__("os").path.dirname(__import__("os").path.abspath(__file__)):
    del sys.path[0]

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import psycopg

LIMIT = 0.300
SECRET = "bench-secret-key-not-for-production"
PG_ADMIN = os.environ.get("HUBWIRE_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
PAGES = [
    "/",
    "/integrations",
    "/catalogue",
    "/entities",
    "/entities/Widget",
    "/entities/Widget?sort=-size",
    '/entities/Widget?filter={"size": {"$gte": 99000}}',
    "/events",
    "/events?type=Widget.",
    "/webhooks",
    "/inbound",
    "/conflicts",
    "/jobs",
    "/api-keys",
    "/integrations/{endpoint}",  # an integration's page (the first endpoint's), with its runs
    "/integrations/{crm}/mappings?noun=Contact",  # a Pipedrive connection's field mappings (fields asked live)
]


async def seed(hub: object, entities: int) -> str:
    """Write the bench's data; returns the first webhook endpoint's id."""
    from hubwire import Integration
    from hubwire.nouns.noun import Noun
    from hubwire.store.tables import webhook_deliveries
    from hubwire.sync.upsert import Incoming, apply_page

    widget = Noun("Widget", {"name": "string!", "size": "integer#", "colour": "Red | Green | Blue"})
    colours = ("Red", "Green", "Blue")
    for start in range(0, entities, 1000):
        items = [
            Incoming(f"w{i}", {"name": f"widget {i}", "size": i, "colour": colours[i % 3]})
            for i in range(start, min(entities, start + 1000))
        ]
        await apply_page(
            hub,  # type: ignore[arg-type]
            integration_id="integration_bench",
            resource="widget",
            noun=widget,
            items=items,
            source="bench",
        )
    endpoints = [
        await Integration.connect(provider="webhook", url=f"http://127.0.0.1:9/{n}", events=["Widget.*"])
        for n in range(20)
    ]
    now = time.time()
    rows = [
        {
            "id": f"msg_bench{n:06d}",
            "endpoint_id": endpoints[n % 20].id,
            "event_id": f"evt_bench{n}",
            "event_seq": n + 1,
            "event_type": "Widget.Created",
            "status": ("succeeded", "dead", "retrying")[n % 3],
            "attempts": 1 + n % 3,
            "created_at": now - n * 30,
            "updated_at": now - n * 30,
        }
        for n in range(2000)
    ]
    async with hub.transaction() as tx:  # type: ignore[attr-defined]
        await tx.conn.execute(webhook_deliveries.insert(), rows)
    return endpoints[0].id


async def seed_crm(sim: object) -> str:
    """A Pipedrive connection with 20 custom fields and 10 saved versions of its mappings; its id."""
    from hubwire import Integration
    from hubwire.mappings.edit import set_mappings
    from hubwire.simulators.pipedrive import DEFAULT_API_TOKEN

    keys = [sim.add_field("persons", f"Custom {n}", "varchar") for n in range(20)]  # type: ignore[attr-defined]
    crm = await Integration.connect(provider="pipedrive", api_token=DEFAULT_API_TOKEN, api_base_url=sim.url)  # type: ignore[attr-defined]
    for n in range(10):
        mapping = {"remote": keys[n], "field": "title", "transform": "string"}
        await set_mappings(crm.id, "Contact", [mapping], by="bench")
    return crm.id


async def measure(url: str, entities: int, repeat: int) -> dict[str, tuple[float, float]]:
    from hubwire.api.app import create_app
    from hubwire.api.keys import create_api_key
    from hubwire.hub import Hub
    from hubwire.simulators.pipedrive import PipedriveSimulator

    data = tempfile.mkdtemp()
    async with Hub(database_url=url, data_dir=data, secret_key=SECRET, allow_private_networks=True) as hub:
        token = hub.activate()
        try:
            started = time.perf_counter()
            endpoint = await seed(hub, entities)
            print(f"  seeded {entities:,} entities in {time.perf_counter() - started:.1f} s", flush=True)
            app = create_app(hub)
            _, key = await create_api_key(hub, "bench", "admin")
            async with PipedriveSimulator() as sim, app.router.lifespan_context(app):
                crm = await seed_crm(sim)
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://bench.test") as client:
                    r = await client.post("/signin", data={"api_key": key, "next": "/"})
                    assert r.status_code == 303, r.text
                    out: dict[str, tuple[float, float]] = {}
                    for page in PAGES:
                        times = []
                        url = page.format(endpoint=endpoint, crm=crm) if page.startswith("/integrations/") else page
                        for _ in range(repeat + 1):
                            t0 = time.perf_counter()
                            r = await client.get(url)
                            times.append(time.perf_counter() - t0)
                            assert r.status_code == 200, (page, r.status_code, r.text[:300])
                        times = times[1:]  # the first asks warm caches (templates, Noun indexes)
                        out[page] = (statistics.median(times), max(times))
                    return out
        finally:
            token.var.reset(token)


def database(kind: str, tmp: Path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp / 'dashboard.db'}"
    name = f"hubwire_bench_dashboard_{os.getpid()}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    return PG_ADMIN.replace("postgresql://", "postgresql+psycopg://").rsplit("/", 1)[0] + f"/{name}"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--only", nargs="*", default=["sqlite", "postgresql"])
    args = parser.parse_args()
    for kind in args.only:
        with tempfile.TemporaryDirectory() as tmp:
            url = database(kind, Path(tmp))
            print(f"{kind}: {args.entities:,} entities", flush=True)
            figures = await measure(url, args.entities, args.repeat)
        worst = max(m for _, m in figures.values())
        for page, (median, most) in figures.items():
            print(f"  {page:<48} median {median * 1000:6.1f} ms   slowest {most * 1000:6.1f} ms")
        print(f"  slowest page / limit ({LIMIT * 1000:.0f} ms): {worst / LIMIT:.2f}", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
