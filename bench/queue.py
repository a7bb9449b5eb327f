"""Job queue throughput: Hubwire against pgqueuer and procrastinate, from enqueue to done.

Run by hand (not a test): ``.venv/bin/python bench/queue.py [--jobs 20000] [--only hubwire-pg ...]``.

Every run is the same work: worker processes start on an empty queue and go idle; then this
process enqueues ``--jobs`` no-op jobs in committed batches of ``--batch`` while the workers run.
The clock starts at the first enqueue and stops when the database shows every job done (committed
as such: a ``done`` row for Hubwire, ``succeeded`` for procrastinate, deleted from the queue into
its log for pgqueuer). Each PostgreSQL system gets its own fresh database on the same server.
"""

from __future__ import annotations

import sys

# This file is named like the stdlib ``queue`` module that asyncio needs: keep bench/ off the path.
if sys.path and sys.path[0] == __import__("os").path.dirname(__import__("os").path.abspath(__file__)):
    del sys.path[0]

import argparse
import asyncio
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parents[1]
SECRET = "bench-secret-key-not-for-production"
KIND = "bench.noop"
SYSTEMS = ("hubwire-sqlite", "hubwire-pg", "pgqueuer", "procrastinate")


@dataclass(frozen=True)
class Run:
    system: str
    procs: int

    @property
    def label(self) -> str:
        return f"{self.system} ×{self.procs}"


@dataclass
class Result:
    run: Run
    jobs: int
    seconds: float
    enqueue_seconds: float
    worker_cpu: float  # CPU seconds used by all worker processes during the run
    finished: bool = True  # False: cut short by --timeout; ``jobs`` is how many got done

    @property
    def cpu_us_per_job(self) -> float:
        return self.worker_cpu / max(1, self.jobs) * 1e6

    @property
    def rate(self) -> float:
        return self.jobs / self.seconds


# workers (each in its own process) ------------------------------------------------------------------


async def hubwire_worker(url: str, concurrency: int) -> None:
    from hubwire.hub import Hub
    from hubwire.jobs import Job, Worker, job_kind

    @job_kind(KIND)
    async def noop(job: Job, hub: Hub) -> None:
        return None

    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with Hub(
        database_url=url, auto_migrate=False, secret_key=SECRET, data_dir=Path(tempfile.gettempdir())
    ) as hub:
        worker = Worker(hub, concurrency=concurrency, lease=30.0, poll_interval=1.0)
        print("ready", flush=True)
        await worker.run(stop)


async def pgqueuer_worker(url: str, concurrency: int) -> None:
    import asyncpg
    from pgqueuer import Job, QueueManager
    from pgqueuer.db import AsyncpgDriver
    from pgqueuer.queries import Queries

    conn = await asyncpg.connect(url)
    qm = QueueManager(Queries(AsyncpgDriver(conn)))

    @qm.entrypoint(KIND)
    async def noop(job: Job) -> None:
        return None

    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, qm.shutdown.set)
    print("ready", flush=True)
    await qm.run(batch_size=concurrency, dequeue_timeout=__import__("datetime").timedelta(seconds=1))


def procrastinate_app(url: str) -> object:
    import logging

    import procrastinate

    logging.getLogger("procrastinate").setLevel(logging.ERROR)  # "App is instantiated in the main module"
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=url, min_size=2, max_size=12))

    @app.task(name=KIND)
    async def noop(n: int) -> None:
        return None

    return app


async def procrastinate_worker(url: str, concurrency: int) -> None:
    app: object = procrastinate_app(url)
    async with app.open_async():  # type: ignore[attr-defined]
        print("ready", flush=True)
        # Its own signal handlers stop it gracefully on SIGTERM.
        # Polling every 0.1 s beat LISTEN/NOTIFY for it here (one notification per job floods the worker).
        await app.run_worker_async(  # type: ignore[attr-defined]
            concurrency=concurrency, fetch_job_polling_interval=0.1, listen_notify=False
        )


WORKERS: dict[str, Callable[[str, int], Coroutine[Any, Any, None]]] = {
    "hubwire-sqlite": hubwire_worker,
    "hubwire-pg": hubwire_worker,
    "pgqueuer": pgqueuer_worker,
    "procrastinate": procrastinate_worker,
}


# set-up, enqueue, done counts (in the bench process) -------------------------------------------------


def pg_database(admin_url: str, name: str) -> str:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    base, _, _ = admin_url.rpartition("/")
    return f"{base}/{name}"


def drop_pg_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


class System:
    """How to install, enqueue into and count the done jobs of one queue."""

    def __init__(self, name: str, url: str, total: int) -> None:
        self.name = name
        self.url = url
        self.total = total

    async def install(self) -> None:
        if self.name.startswith("hubwire"):
            from hubwire.store.engine import migrate

            await migrate(self.url)
        elif self.name == "pgqueuer":
            import asyncpg
            from pgqueuer.db import AsyncpgDriver
            from pgqueuer.queries import Queries

            conn = await asyncpg.connect(self.url)
            await Queries(AsyncpgDriver(conn)).install()
            await conn.close()
        else:
            app: object = procrastinate_app(self.url)
            async with app.open_async():  # type: ignore[attr-defined]
                await app.schema_manager.apply_schema_async()  # type: ignore[attr-defined]

    async def enqueuer(self) -> tuple[Callable[[range], Awaitable[None]], Callable[[], Awaitable[None]]]:
        """An ``enqueue(batch)`` that commits one batch, and a ``close``."""
        if self.name.startswith("hubwire"):
            from hubwire.hub import Hub
            from hubwire.jobs import enqueue_many

            hub = Hub(
                database_url=self.url, auto_migrate=False, secret_key=SECRET, data_dir=Path(tempfile.gettempdir())
            )
            await hub.start()

            async def hubwire_enqueue(batch: range) -> None:
                async with hub.transaction() as tx:
                    await enqueue_many(tx, KIND, [{"n": n} for n in batch], max_attempts=5)

            return hubwire_enqueue, hub.close
        if self.name == "pgqueuer":
            import asyncpg
            from pgqueuer.db import AsyncpgDriver
            from pgqueuer.queries import Queries

            conn = await asyncpg.connect(self.url)
            queries = Queries(AsyncpgDriver(conn))

            async def pgqueuer_enqueue(batch: range) -> None:
                # One statement, autocommit: durable when it returns.
                await queries.enqueue([KIND] * len(batch), [b'{"n": %d}' % n for n in batch], [0] * len(batch))

            return pgqueuer_enqueue, conn.close
        app: object = procrastinate_app(self.url)
        await app.open_async()  # type: ignore[attr-defined]
        task = app.tasks[KIND]  # type: ignore[attr-defined]

        async def procrastinate_enqueue(batch: range) -> None:
            await task.batch_defer_async(*({"n": n} for n in batch))

        return procrastinate_enqueue, app.close_async  # type: ignore[attr-defined]

    # Each system counts what is still live (cheap: the table shrinks or a partial index shrinks).
    REMAINING = {
        "hubwire-sqlite": "SELECT count(*) FROM jobs WHERE status IN ('queued', 'running')",
        "hubwire-pg": "SELECT count(*) FROM jobs WHERE status IN ('queued', 'running')",
        # A finished job is deleted from the queue table (into its log) in one statement.
        "pgqueuer": "SELECT count(*) FROM pgqueuer",
        "procrastinate": "SELECT count(*) FROM procrastinate_jobs WHERE status IN ('todo', 'doing')",
    }
    # ... and once nothing is live, that every job ended well.
    SUCCEEDED = {
        "hubwire-sqlite": "SELECT count(*) FROM jobs WHERE status = 'done'",
        "hubwire-pg": "SELECT count(*) FROM jobs WHERE status = 'done'",
        "pgqueuer": "SELECT count(*) FROM pgqueuer_log WHERE status = 'successful'",
        "procrastinate": "SELECT count(*) FROM procrastinate_jobs WHERE status = 'succeeded'",
    }

    async def count(self, conn: object, query: str) -> int:
        if self.name == "hubwire-sqlite":
            import sqlite3

            assert isinstance(conn, sqlite3.Connection)
            return int(conn.execute(query).fetchone()[0])
        assert isinstance(conn, psycopg.AsyncConnection)
        row = await (await conn.execute(query)).fetchone()
        return int(row[0]) if row else 0


def spawn_worker(system: str, url: str, args: argparse.Namespace) -> subprocess.Popen[str]:
    concurrency = args.procrastinate_concurrency if system == "procrastinate" else args.concurrency
    argv = [sys.executable, __file__, "--worker", system, url, "--concurrency", str(concurrency)]
    env = {**os.environ, "HUBWIRE_LOG_LEVEL": "WARNING", "PYTHONPATH": str(ROOT / "src")}
    return subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def profile(system: str, proc: subprocess.Popen[str]) -> None:
    """With BENCH_PROFILE=dir, sample a ready worker with py-spy (raw stacks) for a few seconds."""
    if directory := os.environ.get("BENCH_PROFILE"):
        out = Path(directory) / f"{system}-{proc.pid}.txt"
        spy = [str(Path(sys.executable).parent / "py-spy"), "record", "--format", "raw", "-d", "4", "-o", str(out)]
        subprocess.Popen([*spy, "--pid", str(proc.pid)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def measure(run: Run, url: str, args: argparse.Namespace) -> Result:
    system = System(run.system, url, args.jobs)
    await system.install()
    procs = [spawn_worker(run.system, url, args) for _ in range(run.procs)]
    try:
        for p in procs:
            assert p.stdout is not None
            while (line := await asyncio.to_thread(p.stdout.readline)).strip() != "ready":
                if not line:
                    raise RuntimeError(f"{run.label}: a worker failed to start (exit {p.poll()})")
            profile(run.system, p)
        await asyncio.sleep(1.5)  # let them reach their idle wait (LISTEN set up)
        enqueue, close = await system.enqueuer()
        if run.system == "hubwire-sqlite":
            import sqlite3

            counter: object = sqlite3.connect(url.removeprefix("sqlite:///"))
        else:
            counter = await psycopg.AsyncConnection.connect(url, autocommit=True)
        try:
            cpu_before = sum(cpu_seconds(p.pid) for p in procs)
            started = time.perf_counter()
            for start in range(0, args.jobs, args.batch):
                await enqueue(range(start, min(args.jobs, start + args.batch)))
            enqueued = time.perf_counter() - started
            deadline = started + args.timeout
            while left := await system.count(counter, system.REMAINING[run.system]):
                if time.perf_counter() > deadline:
                    break  # cut short: the rate is what got done in the time allowed
                await asyncio.sleep(0.02)
            elapsed = time.perf_counter() - started
            worker_cpu = sum(cpu_seconds(p.pid) for p in procs) - cpu_before
            done = args.jobs - left
            if not left:
                succeeded = await system.count(counter, system.SUCCEEDED[run.system])
                if run.system != "pgqueuer" and succeeded != args.jobs:  # pgqueuer folds its log into statistics
                    raise RuntimeError(f"{run.label}: {succeeded} of {args.jobs} succeeded")
        finally:
            await close()
            res = counter.close()  # type: ignore[attr-defined]
            if asyncio.iscoroutine(res):
                await res
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    return Result(run, done, elapsed, enqueued, worker_cpu, finished=not left)


def median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def table(results: dict[Run, list[Result]]) -> str:
    """Median and best jobs/s per run, and Hubwire PG's ratio to each peer with as many processes.

    The ratio is the median over rounds of the ratio *within* a round (the two measured minutes
    apart, not one in a quiet moment and the other in a busy one): on a shared machine that is
    the steadier figure.
    """
    mine = {run.procs: rs for run, rs in results.items() if run.system == "hubwire-pg"}
    names = ("run", "runs", "median jobs/s", "best jobs/s", "worker CPU µs/job", "Hubwire PG / this")
    widths = (19, 4, 13, 11, 17, 17)
    cells = [f"{n:<{w}}" if i == 0 else f"{n:>{w}}" for i, (n, w) in enumerate(zip(names, widths, strict=True))]
    rules = ["-" * (w + 2) if i == 0 else "-" * (w + 1) + ":" for i, w in enumerate(widths)]
    lines = ["| " + " | ".join(cells) + " |", "|" + "|".join(rules) + "|"]
    for run, rs in results.items():
        if not rs:
            continue
        ratio = ""
        if not run.system.startswith("hubwire") and run.procs in mine:
            pairs = [m.rate / r.rate for m, r in zip(mine[run.procs], rs, strict=False)]
            ratio = f"{median(pairs):.2f}×"
        label = run.label if all(r.finished for r in rs) else run.label + " †"
        rate = median([r.rate for r in rs])
        cpu = median([r.cpu_us_per_job for r in rs])
        best = max(r.rate for r in rs)
        lines.append(f"| {label:<19} | {len(rs):>4} | {rate:>13.0f} | {best:>11.0f} | {cpu:>17.0f} | {ratio:>17} |")
    return "\n".join(lines)


async def measure_once(run: Run, args: argparse.Namespace) -> Result:
    if run.system == "hubwire-sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            return await measure(run, f"sqlite:///{tmp}/bench.db", args)
    name = f"bench_{run.system.replace('-', '_')}_{run.procs}"
    url = pg_database(args.pg, name)
    try:
        return await measure(run, url, args)
    finally:
        drop_pg_database(args.pg, name)


async def bench(args: argparse.Namespace) -> None:
    runs = [Run("hubwire-sqlite", 1)]
    for system in ("hubwire-pg", "pgqueuer", "procrastinate"):
        runs += [Run(system, 1), Run(system, 4)]
    runs = [r for r in runs if not args.only or r.system in args.only]
    results: dict[Run, list[Result]] = {run: [] for run in runs}
    began = time.perf_counter()
    # Rounds interleave the systems, so a noisy neighbour on the machine hurts them alike. A run
    # that took longer than --long seconds is not repeated: its noise is already small.
    for round_ in range(args.repeat):
        for run in runs:
            if round_ and results[run][0].seconds > args.long:
                continue
            result = await measure_once(run, args)
            results[run].append(result)
            cut = "" if result.finished else f" CUT SHORT at {args.timeout:.0f} s with {result.jobs} done"
            print(
                f"{run.label:<19} {result.rate:>7.0f} jobs/s  {result.seconds:6.2f} s "
                f"(enqueued in {result.enqueue_seconds:.2f} s; workers' CPU {result.cpu_us_per_job:.0f} µs/job){cut}",
                flush=True,
            )
    print()
    print(
        f"{args.jobs} no-op jobs, enqueued in committed batches of {args.batch} while the workers run; "
        f"{args.concurrency} jobs in flight per worker process (procrastinate: {args.procrastinate_concurrency}); "
        f"median of up to {args.repeat} runs; {os.cpu_count()} CPUs; bench took {time.perf_counter() - began:.0f} s"
    )
    print(table(results))
    if any(not r.finished for rs in results.values() for r in rs):
        print(f"† cut short at --timeout {args.timeout:.0f} s: jobs/s is what it finished in that time")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=1000, help="jobs per enqueue transaction")
    parser.add_argument("--concurrency", type=int, default=32, help="jobs in flight per worker process")
    parser.add_argument(
        "--pg", default=os.environ.get("HUBWIRE_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
    )
    parser.add_argument(
        "--procrastinate-concurrency",
        type=int,
        default=8,
        help="procrastinate fetches one job per slot; past ~8 slots it gets slower on 2 CPUs",
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs of each configuration (the median counts)")
    parser.add_argument("--long", type=float, default=15.0, help="do not repeat a run that took longer (seconds)")
    parser.add_argument("--only", nargs="*", choices=SYSTEMS, help="run only these systems")
    parser.add_argument(
        "--timeout", type=float, default=60.0, help="cut a run short after this many seconds (its rate still counts)"
    )
    parser.add_argument("--worker", nargs=2, metavar=("SYSTEM", "URL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        system, url = args.worker
        asyncio.run(WORKERS[system](url, args.concurrency))
    else:
        asyncio.run(bench(args))


if __name__ == "__main__":
    main()
