"""Initial and incremental sync of Stripe customers: Hubwire (SQLite, PostgreSQL) against dlt's rest_api.

Run by hand (not a test): ``.venv/bin/python bench/sync.py [--customers 100000] [--only hubwire-sqlite ...]``.

One Stripe simulator process (``hubwire.simulators.stripe``, spec checks off so that it answers as
fast as it can) holds ``--customers`` customers, served 100 per page with Stripe's list format.
Each system runs in its own child process, so its peak memory is its own: the figure is the peak
RSS during the sync minus the RSS just before it (after imports and setup).

- ``hubwire-sqlite`` / ``hubwire-pg``: ``Integration.connect(provider="stripe")`` then
  ``run_sync`` (all seven billing resources and the events feed; only customers hold data), every
  record mapped, hashed, stored as a Customer with its ``Customer.Created`` event and external ref.
  The Integration's rate budget is raised to 10,000 req/s: the simulator has no limit, and
  Stripe's 25 (test) / 100 (live) req/s would make the run measure Stripe's limit, not Hubwire.
- ``dlt-append`` / ``dlt-merge``: dlt's ``rest_api`` source on ``/v1/customers`` (cursor paginator
  ``starting_after`` = last id, ``has_more``), loaded into DuckDB with ``append`` or ``merge`` on ``id``.

Then, for Hubwire, 1% of the customers are renamed through the API (which records Stripe events)
and the incremental sync's time is printed as a fraction of the initial one.
"""

from __future__ import annotations

import sys

# bench/queue.py is named like the stdlib module asyncio needs: keep bench/ off the path.
if sys.path and sys.path[0] == __import__("os").path.dirname(__import__("os").path.abspath(__file__)):
    del sys.path[0]

import argparse
import asyncio
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
KEY = "sk_test_hubwire"
SECRET = "bench-secret-key-not-for-production"
PG_ADMIN = os.environ.get("HUBWIRE_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
SYSTEMS = ("hubwire-sqlite", "hubwire-pg", "dlt-append", "dlt-merge")


def rss() -> int:
    import psutil

    return int(psutil.Process().memory_info().rss)


def peak_rss() -> int:
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


# -- the simulator process -------------------------------------------------------------------


async def serve(customers: int) -> None:
    from hubwire.simulators.stripe import StripeSimulator

    async with StripeSimulator(api_keys=(KEY,), check_spec=False) as sim:
        sim.seed_many("customer", customers, created=int(time.time()) - 86_400)
        print(sim.url, flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until the parent closes stdin


# -- children --------------------------------------------------------------------------------


def cpu() -> float:
    """CPU seconds (user + system) of this process and its finished children: a figure a busy machine
    disturbs less than wall time."""
    import resource

    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def say(obj: dict[str, Any]) -> None:
    print(json.dumps(obj), flush=True)


def hub_database(system: str, tmp: Path, name: str) -> str:
    """The database URL of a Hubwire child: a file in ``tmp`` (``hubwire-sqlite``) or a new
    PostgreSQL database ``name`` (``hubwire-pg``, dropped by :func:`drop_database`)."""
    if system == "hubwire-sqlite":
        return f"sqlite:///{tmp / 'hub.db'}"
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name}")
    return PG_ADMIN.replace("postgresql://", "postgresql+psycopg://").rsplit("/", 1)[0] + f"/{name}"


def drop_database(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def run_dlt(source: Any, name: str, tmp: Path, tables: tuple[str, ...]) -> dict[str, Any]:
    """Run a dlt pipeline into DuckDB in ``tmp``, timed: records (rows of ``tables``), seconds, peak bytes."""
    import dlt

    os.environ["DLT_DATA_DIR"] = str(tmp)
    os.environ.setdefault("RUNTIME__LOG_LEVEL", "WARNING")
    pipeline = dlt.pipeline(
        pipeline_name=name,
        destination=dlt.destinations.duckdb(str(tmp / "bench.duckdb")),
        dataset_name="data",  # not the file's name (bench): DuckDB would find the name ambiguous
        pipelines_dir=str(tmp / "pipelines"),
    )
    base, cpu0 = rss(), cpu()
    t0 = time.perf_counter()
    pipeline.run(source)
    seconds = time.perf_counter() - t0
    peak = peak_rss() - base
    used = cpu() - cpu0
    count = 0
    with pipeline.sql_client() as client:
        for table in tables:
            rows: Any = client.execute_sql(f"SELECT count(*) FROM {table}")
            count += int(rows[0][0])
    return {"records": count, "seconds": seconds, "peak_bytes": peak, "cpu_seconds": used}


async def hubwire_child(system: str, url: str) -> None:
    from hubwire.domains.billing import Customer
    from hubwire.domains.platform import Integration, run_sync
    from hubwire.hub import Hub

    tmp = Path(tempfile.mkdtemp(prefix="hubwire-bench-sync-"))
    db = hub_database(system, tmp, f"hubwire_bench_sync_{os.getpid()}")
    # The simulator is on loopback: the SSRF guard is opened for it.
    async with Hub(database_url=db, data_dir=tmp, secret_key=SECRET, allow_private_networks=True) as hub:
        integ = await Integration.connect(provider="stripe", api_key=KEY, api_base_url=url, rate_limit=10_000)
        # connect enqueued the initial sync as a job; run it here, timed, instead.
        base = rss()
        t0 = time.perf_counter()
        await run_sync(hub, integ.id)
        initial = time.perf_counter() - t0
        peak = peak_rss() - base
        count = await Customer.count()
        say({"phase": "initial", "records": count, "seconds": initial, "peak_bytes": peak})
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)  # the parent changes 1%
        t0 = time.perf_counter()
        await run_sync(hub, integ.id)
        incremental = time.perf_counter() - t0
        from hubwire.sync.runs import list_runs

        run = (await list_runs(hub, integ.id))[0]
        say({"phase": "incremental", "seconds": incremental, "counts": run.counts.get("Customer", {})})
    if system == "hubwire-pg":
        drop_database(f"hubwire_bench_sync_{os.getpid()}")


def dlt_child(system: str, url: str) -> None:
    from dlt.sources.helpers.rest_client.paginators import JSONResponseCursorPaginator
    from dlt.sources.rest_api import rest_api_source

    tmp = Path(tempfile.mkdtemp(prefix="dlt-bench-sync-"))
    disposition = system.split("-", 1)[1]
    config: Any = {
        "client": {"base_url": url, "auth": {"type": "bearer", "token": KEY}},
        "resources": [
            {
                "name": "customers",
                "primary_key": "id",
                "write_disposition": disposition,
                "endpoint": {
                    "path": "/v1/customers",
                    "params": {"limit": 100},
                    "data_selector": "data",
                    "paginator": JSONResponseCursorPaginator(
                        cursor_path="data[-1].id", cursor_param="starting_after", has_more_path="has_more"
                    ),
                },
            }
        ],
    }
    result = run_dlt(rest_api_source(config), f"bench_{disposition}", tmp, ("customers",))
    say({"phase": "initial", **result})


# -- the parent ------------------------------------------------------------------------------


def change_one_percent(url: str, customers: int, round_: int) -> int:
    """Rename 1% of the customers through the API (the simulator records customer.updated events)."""
    n = max(1, customers // 100)
    ids: list[str] = []
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {KEY}"}, timeout=30) as client:
        after = None
        while len(ids) < n:
            params: dict[str, Any] = {"limit": 100}
            if after:
                params["starting_after"] = after
            page = client.get("/v1/customers", params=params).json()
            ids += [c["id"] for c in page["data"]]
            after = page["data"][-1]["id"]
        for i, cid in enumerate(ids[:n]):
            client.post(f"/v1/customers/{cid}", data={"name": f"changed {round_}.{i}"}).raise_for_status()
    return n


def run_child(system: str, url: str, customers: int, round_: int) -> dict[str, Any]:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", system, "--url", url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert proc.stdin is not None and proc.stdout is not None
    result: dict[str, Any] = {"system": system}
    for line in proc.stdout:
        if not line.startswith("{"):
            continue
        msg = json.loads(line)
        result[msg.pop("phase")] = msg
        if "initial" in result and system.startswith("hubwire") and "changed" not in result:
            result["changed"] = change_one_percent(url, customers, round_)
            proc.stdin.write("go\n")
            proc.stdin.flush()
    proc.wait()
    if proc.returncode:
        raise SystemExit(f"{system} failed with exit code {proc.returncode}")
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--customers", type=int, default=100_000)
    ap.add_argument("--only", nargs="*", choices=SYSTEMS, default=list(SYSTEMS))
    ap.add_argument("--child", choices=SYSTEMS)
    ap.add_argument("--url")
    ap.add_argument("--serve", type=int)
    args = ap.parse_args()
    if args.serve is not None:
        asyncio.run(serve(args.serve))
        return
    if args.child:
        if args.child.startswith("hubwire"):
            asyncio.run(hubwire_child(args.child, args.url))
        else:
            dlt_child(args.child, args.url)
        return
    serve_cmd = [sys.executable, __file__, "--serve", str(args.customers)]
    sim = subprocess.Popen(serve_cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert sim.stdout is not None and sim.stdin is not None
    url = sim.stdout.readline().strip()
    print(f"Stripe simulator at {url} with {args.customers:,} customers (100 per page)\n")
    results = []
    try:
        for round_, system in enumerate(args.only):
            r = run_child(system, url, args.customers, round_)
            results.append(r)
            ini = r["initial"]
            line = (
                f"{system:15} initial {ini['records']:>7,} records in {ini['seconds']:6.2f} s = "
                f"{ini['records'] / ini['seconds']:>8,.0f} rec/s, peak +{ini['peak_bytes'] / 2**20:6.1f} MiB"
            )
            if "incremental" in r:
                inc = r["incremental"]
                line += (
                    f"; incremental after {r['changed']:,} changed: {inc['seconds']:.2f} s "
                    f"= {inc['seconds'] / ini['seconds']:.1%} of initial ({inc['counts']})"
                )
            print(line, flush=True)
    finally:
        sim.stdin.close()
        sim.wait(timeout=30)
    rates = {r["system"]: r["initial"]["records"] / r["initial"]["seconds"] for r in results}
    for mine in ("hubwire-sqlite", "hubwire-pg"):
        for peer in ("dlt-append", "dlt-merge"):
            if mine in rates and peer in rates:
                print(f"{mine} / {peer}: {rates[mine] / rates[peer]:.2f}x")


if __name__ == "__main__":
    main()
