"""The lakehouse query against the event log: events per day per name over 1,000,000 events.

Run by hand (not a test): ``.venv/bin/python bench/lakehouse.py [--events 1000000] [--runs 5]``.

The same events twice, in one fresh PostgreSQL database (``HUBWIRE_BENCH_PG``, default the local
server): in Hubwire's event log (the ``events`` table, loaded with one ``INSERT ... SELECT``), and in
the lakehouse's Iceberg table (its SQL catalog in the same database, the warehouse a temporary
directory), appended in batches of 100,000 and compacted to one Parquet file a day, as the upkeep
leaves it. Event ``i`` is named ``event_<i % 20>`` at ``start + i * 30 days / n``: 30 days, 20
names, 600 groups.

Each query runs once to warm up, then ``--runs`` times; the median is printed, and the ratio of
PostgreSQL's time to the lakehouse's. The lakehouse's time is the SDK's whole path
(:func:`hubwire.lakehouse.query`: load the table's metadata, plan its files, a fresh locked-down
DuckDB, the query); PostgreSQL's is the query alone on a warm connection.

``main()`` returns the figures, so ``bench/collect.py`` can call it.
"""

from __future__ import annotations

import sys

# bench/queue.py is named like the stdlib module psycopg needs: keep bench/ off the path.
if sys.path and sys.path[0] == __import__("os").path.dirname(__import__("os").path.abspath(__file__)):
    del sys.path[0]

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
from sqlalchemy.engine import make_url

from hubwire import lakehouse
from hubwire.hub import Hub
from hubwire.lakehouse import table as iceberg
from hubwire.store.engine import migrate

PG_ADMIN = os.environ.get("HUBWIRE_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
DB = "hubwire_bench_lakehouse"
SECRET = "bench-secret-key-not-for-production"
START = 1_800_000_000.0  # 2027-01-15 08:00 UTC
SPAN = 30 * 86400.0
NAMES = 20
BATCH = 100_000

LAKEHOUSE_SQL = (
    "select date_trunc('day', timestamp) as day, event, count(*) as n from events group by 1, 2 order by 1, 2"
)
PG_SQL = (
    "SELECT date_trunc('day', to_timestamp(created_at) AT TIME ZONE 'UTC') AS day, type, count(*) AS n "
    "FROM events GROUP BY 1, 2 ORDER BY 1, 2"
)


def fresh_database() -> str:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB}")
    return make_url(PG_ADMIN).set(database=DB).render_as_string(hide_password=False)


def load_event_log(url: str, n: int) -> None:
    """``n`` events into Hubwire's ``events`` table, server-side (the same events as :func:`arrow_batch`)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO events (id, type, entity_type, entity_id, data, source, created_at) "
            "SELECT 'evt_' || i, 'event_' || (i %% %(names)s), 'Visitor', 'user_' || (i %% 1000), "
            "jsonb_build_object('i', i, 'plan', CASE WHEN i %% 2 = 1 THEN 'pro' ELSE 'free' END), 'collect', "
            "%(start)s + i * %(step)s FROM generate_series(0, %(last)s) AS i",
            {"names": NAMES, "start": START, "step": SPAN / n, "last": n - 1},
        )
        conn.execute("VACUUM ANALYZE events")


def arrow_batch(table: Any, lo: int, hi: int, n: int) -> pa.Table:
    """Events ``lo`` to ``hi`` (the same events as :func:`load_event_log`)."""
    i = range(lo, hi)
    micros = pa.array([int((START + k * (SPAN / n)) * 1_000_000) for k in i], pa.int64())
    at = micros.cast(pa.timestamp("us", tz="UTC"))
    return pa.Table.from_arrays(
        [
            pa.array([f"evt_{k}" for k in i]),
            pa.array([f"event_{k % NAMES}" for k in i]),
            at,
            pa.array(["collect"] * len(i)),
            pa.array([f"user_{k % 1000}" for k in i]),
            pa.array([f'{{"i": {k}, "plan": "{"pro" if k % 2 else "free"}"}}' for k in i]),
            at,
        ],
        schema=table.schema().as_arrow(),
    )


def load_lakehouse(hub: Hub, n: int) -> None:
    table = iceberg.open_table(hub.settings)
    for k, lo in enumerate(range(0, n, BATCH)):
        batch = arrow_batch(table, lo, min(n, lo + BATCH), n)
        table.append(batch, snapshot_properties={iceberg.BATCH_PROPERTY: f"bench-{k}"})


async def timed(fn: Any, runs: int) -> tuple[float, Any]:
    result = await fn()  # warm up
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        await fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


async def run(n: int, runs: int) -> dict[str, Any]:
    url = fresh_database()
    await migrate(url)
    t0 = time.perf_counter()
    load_event_log(url, n)
    print(f"event log: {n:,} events loaded in {time.perf_counter() - t0:.1f} s")
    with tempfile.TemporaryDirectory() as tmp:
        async with Hub(database_url=url, data_dir=Path(tmp), secret_key=SECRET, auto_migrate=False) as hub:
            t0 = time.perf_counter()
            await asyncio.to_thread(load_lakehouse, hub, n)
            compacted = await lakehouse.compact(hub)
            await lakehouse.expire_snapshots(hub, keep=0)
            stats = await lakehouse.stats(hub)
            print(
                f"lakehouse: {stats['rows']:,} events appended in {n // BATCH or 1} batches and {len(compacted)} days "
                f"compacted to {stats['files']} files in {time.perf_counter() - t0:.1f} s"
            )

            async def duck() -> list[list[Any]]:
                return (await lakehouse.query(hub, LAKEHOUSE_SQL, max_rows=100_000, timeout=600)).rows

            pg = await psycopg.AsyncConnection.connect(url.replace("postgresql+psycopg://", "postgresql://"))

            async def postgres() -> list[Any]:
                cur = await pg.execute(PG_SQL)
                return await cur.fetchall()

            try:
                duck_s, duck_rows = await timed(duck, runs)
                pg_s, pg_rows = await timed(postgres, runs)
            finally:
                await pg.close()
    same = [(r[1], r[2]) for r in duck_rows] == [(r[1], r[2]) for r in pg_rows]
    assert same, "the two answers differ"
    print(f"events per day per name over {n:,} events ({len(duck_rows)} groups, median of {runs}):")
    print(f"  lakehouse (DuckDB on the Iceberg table): {duck_s * 1000:8.1f} ms")
    print(f"  event log (PostgreSQL events table):     {pg_s * 1000:8.1f} ms")
    print(f"  ratio PostgreSQL / lakehouse: {pg_s / duck_s:.1f}x")
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
    return {"events": n, "lakehouse_s": duck_s, "postgres_s": pg_s, "ratio": pg_s / duck_s}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    return asyncio.run(run(args.events, args.runs))


if __name__ == "__main__":
    main()
