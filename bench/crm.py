"""Initial sync of HubSpot contacts and companies with their associations: Hubwire (SQLite, PostgreSQL)
against dlt's rest_api source into DuckDB, the same simulator in the same run, at two sizes.

Run by hand (not a test): ``.venv/bin/python bench/crm.py [--sizes 10000 50000] [--only hubwire-sqlite ...]``.

For each size N, one HubSpot simulator process (``hubwire.simulators.hubspot``, no burst or daily
limit, so that it answers as fast as it can) holds N contacts and N/10 companies, each contact
associated with one company. Each system runs in its own child process, so its peak memory is its
own: the figure is the peak RSS during the sync minus the RSS just before it (after imports and
setup). Peak memory flat in N is the aim: run two sizes and compare.

- ``hubwire-sqlite`` / ``hubwire-pg``: ``Integration.connect(provider="hubspot")`` then ``run_sync``
  (companies, contacts and deals, each list paged 100 at a time with ``after`` and asking the
  associations in the same request, then the archived lists): every record mapped, hashed and
  stored as an Organization or a Contact (its organization relation resolved through the external
  refs) with its ``Created`` event and external ref. The Integration's rate budget is raised to
  10,000 requests/s: HubSpot's 10/s would make the run measure HubSpot's limit, not Hubwire.
- ``dlt-append`` / ``dlt-merge``: dlt's ``rest_api`` source with the same two list requests
  (``results``, the ``paging.next.after`` cursor, ``associations=companies``), loaded into DuckDB
  with ``append`` or ``merge`` on ``id`` (the nested associations normalised into a child table).

Records are the companies plus the contacts stored (dlt: rows of ``companies`` and ``contacts``).
"""

from __future__ import annotations

import sys

# bench/queue.py is named like the stdlib module asyncio needs: keep bench/ off the path, the repository on it
# (for bench.sync's machinery).
if sys.path and sys.path[0] == __import__("os").path.dirname(__import__("os").path.abspath(__file__)):
    del sys.path[0]
sys.path.insert(
    0, __import__("os").path.dirname(__import__("os").path.dirname(__import__("os").path.abspath(__file__)))
)

import argparse
import asyncio
import gc
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.sync import cpu, drop_database, hub_database, peak_rss, rss, run_dlt, say

ROOT = Path(__file__).resolve().parents[1]
SYSTEMS = ("hubwire-sqlite", "hubwire-pg", "dlt-append", "dlt-merge")
CONTACT_PROPERTIES = "email,firstname,lastname,phone,jobtitle,lifecyclestage,hubspot_owner_id,lastmodifieddate"
COMPANY_PROPERTIES = "name,domain,industry,numberofemployees,city,country,hs_lastmodifieddate"


# -- the simulator process -------------------------------------------------------------------


async def serve(contacts: int) -> None:
    from hubwire.simulators.hubspot import HubSpotSimulator

    companies = max(1, contacts // 10)
    async with HubSpotSimulator(rate_limit=None, daily_limit=10**9) as sim:
        company_ids = sim.seed_many(
            "companies",
            companies,
            lambda i: {"name": f"Company {i}", "domain": f"c{i}.example", "numberofemployees": str(10 + i % 500)},
        )
        contact_ids = sim.seed_many(
            "contacts",
            contacts,
            lambda i: {"email": f"p{i}@c{i % companies}.example", "firstname": f"First{i}", "lastname": f"Last{i}"},
        )
        for i, ident in enumerate(contact_ids):
            sim.associate("contacts", ident, "companies", company_ids[i % companies])
        # The seeded portal is never garbage: keep it out of the collector's passes, which would otherwise
        # traverse it again and again while serving (the simulator answers as fast as it can).
        gc.freeze()
        print(sim.url, flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until the parent closes stdin


# -- children --------------------------------------------------------------------------------


async def hubwire_child(system: str, url: str) -> None:
    from hubwire.domains.crm import Contact, Organization
    from hubwire.domains.platform import Integration, run_sync
    from hubwire.hub import Hub
    from hubwire.simulators.hubspot import DEFAULT_TOKEN

    tmp = Path(tempfile.mkdtemp(prefix="hubwire-bench-crm-"))
    name = f"hubwire_bench_crm_{os.getpid()}"
    db = hub_database(system, tmp, name)
    # The simulator is on loopback: the SSRF guard is opened for it.
    async with Hub(database_url=db, data_dir=tmp, secret_key="bench-crm", allow_private_networks=True) as hub:
        integ = await Integration.connect(
            provider="hubspot", access_token=DEFAULT_TOKEN, api_base_url=url, rate_limit=10_000
        )
        # connect enqueued the initial sync as a job; run it here, timed, instead.
        base, cpu0 = rss(), cpu()
        t0 = time.perf_counter()
        await run_sync(hub, integ.id)
        seconds = time.perf_counter() - t0
        peak = peak_rss() - base
        used = cpu() - cpu0
        contacts, companies = await Contact.count(), await Organization.count()
        linked = await Contact.count({"organization": {"$ne": None}})
        say(
            {
                "phase": "initial",
                "records": contacts + companies,
                "seconds": seconds,
                "peak_bytes": peak,
                "cpu_seconds": used,
                "linked": linked,
            }
        )
    if system == "hubwire-pg":
        drop_database(name)


def dlt_child(system: str, url: str) -> None:
    from dlt.sources.helpers.rest_client.paginators import JSONResponseCursorPaginator
    from dlt.sources.rest_api import rest_api_source

    from hubwire.simulators.hubspot import DEFAULT_TOKEN

    disposition = system.split("-", 1)[1]

    def resource(name: str, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "name": name,
            "primary_key": "id",
            "write_disposition": disposition,
            "endpoint": {
                "path": f"/crm/v3/objects/{name}",
                "params": {"limit": 100, **params},
                "data_selector": "results",
                "paginator": JSONResponseCursorPaginator(cursor_path="paging.next.after", cursor_param="after"),
            },
        }

    config: Any = {
        "client": {"base_url": url, "auth": {"type": "bearer", "token": DEFAULT_TOKEN}},
        "resources": [
            resource("companies", {"properties": COMPANY_PROPERTIES}),
            resource("contacts", {"properties": CONTACT_PROPERTIES, "associations": "companies"}),
        ],
    }
    tmp = Path(tempfile.mkdtemp(prefix="dlt-bench-crm-"))
    result = run_dlt(rest_api_source(config), f"bench_crm_{disposition}", tmp, ("companies", "contacts"))
    say({"phase": "initial", **result})


# -- the parent ------------------------------------------------------------------------------


def run_child(system: str, url: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", system, "--url", url], capture_output=True, text=True, cwd=ROOT
    )
    if done.returncode:
        raise SystemExit(f"{system} failed with exit code {done.returncode}:\n{done.stderr[-3000:]}")
    for line in done.stdout.splitlines():
        if line.startswith("{"):
            msg = json.loads(line)
            msg.pop("phase")
            return {"system": system, **msg}
    raise SystemExit(f"{system} printed no result:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000], help="contacts (companies: a tenth)")
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
    import psutil

    table: list[dict[str, Any]] = []
    for size in args.sizes:
        sim = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(size)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert sim.stdout is not None and sim.stdin is not None
        url = sim.stdout.readline().strip()
        print(f"HubSpot simulator at {url}: {size:,} contacts, {max(1, size // 10):,} companies (100 per page)")
        served = psutil.Process(sim.pid)
        try:
            for system in args.only:
                before = sum(served.cpu_times()[:2])
                r = {"size": size, **run_child(system, url)}
                r["sim_cpu_seconds"] = sum(served.cpu_times()[:2]) - before
                table.append(r)
                print(
                    f"  {system:15} {r['records']:>7,} records in {r['seconds']:6.2f} s = "
                    f"{r['records'] / r['seconds']:>8,.0f} rec/s, CPU {r['cpu_seconds']:6.2f} s "
                    f"(simulator {r['sim_cpu_seconds']:5.2f} s), "
                    f"peak +{r['peak_bytes'] / 2**20:6.1f} MiB"
                    + (f" ({r['linked']:,} contacts linked to their company)" if "linked" in r else ""),
                    flush=True,
                )
        finally:
            sim.stdin.close()
            sim.wait(timeout=60)
        rates = {r["system"]: r["records"] / r["seconds"] for r in table if r["size"] == size}
        cpus = {r["system"]: r["cpu_seconds"] for r in table if r["size"] == size}
        for mine in ("hubwire-sqlite", "hubwire-pg"):
            for peer in ("dlt-append", "dlt-merge"):
                if mine in rates and peer in rates:
                    print(
                        f"  {mine} / {peer}: {rates[mine] / rates[peer]:.2f}x records/s, "
                        f"{cpus[peer] / cpus[mine]:.2f}x less CPU"
                    )
    if len(args.sizes) > 1:
        print("peak memory by size (MiB):")
        for system in args.only:
            peaks = [f"{r['peak_bytes'] / 2**20:.1f}" for r in table if r["system"] == system]
            print(f"  {system:15} " + " -> ".join(peaks))


if __name__ == "__main__":
    main()
