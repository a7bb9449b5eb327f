"""Initial, incremental and no-change syncs of GitHub issues through the GitHub simulator, on SQLite and PostgreSQL.

Run by hand (not a test): ``.venv/bin/python bench/github_sync.py [--issues 5000] [--comments 1000] [--only sqlite]``.

One repository holds ``--issues`` issues and ``--comments`` comments in the simulator (spec checks
off, so it answers as fast as it can). The connector keeps its default rate budget (20 requests/s).
Printed per database: the initial sync (records/s), an incremental sync after 1% of the issues
changed on GitHub (as a fraction of the initial), and a sync with nothing changed (all 304s).
"""

from __future__ import annotations

import sys

# bench/queue.py is named like the stdlib module asyncio needs: keep bench/ off the path.
if sys.path and sys.path[0] == __import__("os").path.dirname(__import__("os").path.abspath(__file__)):
    del sys.path[0]

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

import psycopg

import hubwire  # noqa: F401 - registers the built-in providers
from hubwire.domains.platform import Integration, run_sync
from hubwire.domains.projects import Issue
from hubwire.hub import Hub
from hubwire.simulators.github import DEFAULT_TOKEN, GitHubSimulator
from hubwire.store.engine import migrate

PG_ADMIN = os.environ.get("HUBWIRE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


async def bench(db: str, issues: int, comments: int) -> None:
    tmp = Path(tempfile.mkdtemp())
    if db == "sqlite":
        url = f"sqlite:///{tmp}/bench.db"
    else:
        name = f"hubwire_bench_gh_{os.getpid()}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name}")
            conn.execute(f"CREATE DATABASE {name}")
        url = PG_ADMIN.replace("postgresql://", "postgresql+psycopg://").rsplit("/", 1)[0] + f"/{name}"
    await migrate(url)
    async with (
        GitHubSimulator(check_spec=False) as sim,
        Hub(
            database_url=url,
            data_dir=tmp,
            secret_key="bench-secret-key-0123456789",
            auto_migrate=False,
            allow_private_networks=True,  # the simulator is on loopback
        ) as hub,
    ):
        sim.seed_repo(sim.login, "big")
        for i in range(issues):
            sim.seed_issue(sim.login, "big", title=f"Issue {i}", body="x" * 200, labels=["bug"])
        for i in range(comments):
            sim.seed_comment(sim.login, "big", 1 + i % issues, body=f"comment {i}")
        integ = await Integration.connect(provider="github", token=DEFAULT_TOKEN, api_base_url=sim.url)
        t = time.perf_counter()
        await run_sync(hub, integ.id)
        initial = time.perf_counter() - t
        assert await Issue.count({}) == issues
        for n in range(1, issues + 1, 100):
            sim.update_issue(sim.login, "big", n, title=f"Issue {n} (edited)")
        t = time.perf_counter()
        await run_sync(hub, integ.id)
        incremental = time.perf_counter() - t
        await run_sync(hub, integ.id)  # stores the ETags of the new watermark
        mark = len(sim.requests)
        t = time.perf_counter()
        await run_sync(hub, integ.id)
        noop = time.perf_counter() - t
        statuses = [r.status for r in sim.requests[mark:] if "/issues" in r.path]
    records = issues + comments + 1
    print(
        f"{db:10s} initial {initial:7.2f}s ({records / initial:7.0f} records/s) · "
        f"incremental after 1% changed {incremental:6.3f}s ({incremental / initial:.1%} of initial) · "
        f"no change {noop:6.3f}s (list answers: {statuses})"
    )
    if db != "sqlite":
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS hubwire_bench_gh_{os.getpid()} WITH (FORCE)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--issues", type=int, default=5000)
    ap.add_argument("--comments", type=int, default=1000)
    ap.add_argument("--only", choices=["sqlite", "postgresql"], action="append")
    args = ap.parse_args()
    for db in args.only or ["sqlite", "postgresql"]:
        asyncio.run(bench(db, args.issues, args.comments))


if __name__ == "__main__":
    main()
