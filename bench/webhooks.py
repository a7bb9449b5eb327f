"""Outbound webhook delivery: Hubwire (SQLite, PostgreSQL) against Celery + Redis and the machine's limit.

Run by hand (not a test): ``.venv/bin/python bench/webhooks.py [--only hubwire-sqlite ...] [--scale 1.0]``.

Two workloads, each one run on one machine: 20,000 events to 1 endpoint, and 1,000 events to 20
endpoints. A local aiohttp receiver (its own process) answers 200 and verifies nothing; it notes
the first arrival time of each (endpoint, ``seq``), so a redelivery is not counted twice. Latency is
arrival minus the commit time of the event (Hubwire: the commit of the transaction that appended it;
Celery: the ``apply_async`` call).

- ``hubwire-sqlite`` / ``hubwire-pg``: events appended in committed transactions of 100 while
  worker processes (``--concurrency`` each) deliver: ``--sqlite-workers`` / ``--pg-workers`` of
  them (2 each, one per core of the 2-CPU machine it was tuned on; SQLite's worker processes share
  the file, their writes take turns, their HTTP runs in parallel); fan-out, signing, the attempts
  log and the job queue as shipped. ``--producer page`` (default) appends each
  transaction's events with one ``append_many``, as a sync writes a page of provider records (the
  usual source of a burst); ``--producer single`` appends them one ``append`` at a time, as 100
  verbs in one transaction would.
- ``celery``: what a Python team would write instead: one Celery task per delivery (Redis broker at
  127.0.0.1:6379), signed the same way, POSTed with a pooled ``requests`` session; prefork workers.
- ``limit``: one aiohttp client posting pre-signed bodies at full concurrency, no durability; its
  latency is the request round trip. Best of three rounds.
"""

from __future__ import annotations

import sys

# bench/queue.py is named like the stdlib module asyncio needs: keep bench/ off the path.
if sys.path and sys.path[0] == __import__("os").path.dirname(__import__("os").path.abspath(__file__)):
    del sys.path[0]

import argparse
import asyncio
import functools
import json
import os
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve()
SECRET = "bench-secret-key-not-for-production"
SIGNING = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
PG_ADMIN = os.environ.get("HUBWIRE_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS = os.environ.get("HUBWIRE_BENCH_REDIS", "redis://127.0.0.1:6379/15")
SYSTEMS = ("hubwire-sqlite", "hubwire-pg", "celery", "limit")
BATCH = 100
QUIET = ("--without-gossip", "--without-mingle", "--without-heartbeat")


@dataclass(frozen=True)
class Workload:
    name: str
    events: int
    endpoints: int

    @property
    def deliveries(self) -> int:
        return self.events * self.endpoints


@dataclass
class Result:
    system: str
    workload: Workload
    seconds: float
    latencies: list[float]

    @property
    def rate(self) -> float:
        return self.workload.deliveries / self.seconds

    def pct(self, p: float) -> float:
        xs = sorted(self.latencies)
        return xs[min(len(xs) - 1, int(p * len(xs)))] * 1000 if xs else float("nan")


# the receiver (its own process) ---------------------------------------------------------------------


def serve_receiver() -> None:
    from aiohttp import web

    # The first arrival of each (endpoint, seq): a redelivery (at least once) is not counted twice.
    arrivals: dict[tuple[str, int], float] = {}

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        arrivals.setdefault((request.match_info["endpoint"], json.loads(body)["seq"]), time.time())
        return web.Response(text="ok")

    async def count(request: web.Request) -> web.Response:
        return web.json_response({"count": len(arrivals)})

    async def dump(request: web.Request) -> web.Response:
        out = [(seq, at) for (_, seq), at in arrivals.items()]
        arrivals.clear()
        return web.json_response(out)

    async def main() -> None:
        app = web.Application()
        app.router.add_post("/{endpoint}", hook)
        app.router.add_get("/_count", count)
        app.router.add_post("/_dump", dump)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        print(runner.addresses[0][1], flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


class Receiver:
    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, str(HERE), "--receiver"], stdout=subprocess.PIPE, cwd=ROOT)
        assert self.proc.stdout is not None
        self.base = f"http://127.0.0.1:{int(self.proc.stdout.readline())}"

    async def wait_for(self, total: int, timeout: float = 600.0) -> float:
        import aiohttp

        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as s:
            while time.monotonic() < deadline:
                async with s.get(self.base + "/_count") as r:
                    if (await r.json())["count"] >= total:
                        return time.time()
                await asyncio.sleep(0.02)
        raise TimeoutError(f"receiver did not get {total} deliveries in {timeout}s")

    async def dump(self) -> list[tuple[int, float]]:
        import aiohttp

        async with aiohttp.ClientSession() as s, s.post(self.base + "/_dump") as r:
            return [(int(a), float(b)) for a, b in await r.json()]

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


def latencies(arrivals: list[tuple[int, float]], committed: dict[int, float]) -> list[float]:
    return [at - committed[seq] for seq, at in arrivals if seq in committed]


# Hubwire ------------------------------------------------------------------------------------------


def register_bench_event() -> None:
    """Endpoints subscribe only to events that exist: the one the benchmark appends is registered."""
    from hubwire.events import register

    register("Bench.Happened", description="The event the webhook benchmark appends")


async def hubwire_worker(url: str, data_dir: str, concurrency: int) -> None:
    import hubwire.webhooks  # noqa: F401
    from hubwire.hub import Hub
    from hubwire.jobs import Worker

    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    hub = Hub(
        database_url=url, auto_migrate=False, secret_key=SECRET, data_dir=Path(data_dir), allow_private_networks=True
    )
    async with hub:
        await Worker(hub, concurrency=concurrency, lease=30.0).run(stop)


def fresh_database(system: str, tmp: Path, n: int) -> str:
    if system == "hubwire-sqlite":
        return f"sqlite:///{tmp / f'bench-{n}.db'}"
    import psycopg

    name = f"hubwire_bench_wh_{os.getpid()}_{n}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    return PG_ADMIN.replace("postgresql://", "postgresql+psycopg://").rsplit("/", 1)[0] + f"/{name}"


async def run_hubwire(
    system: str, w: Workload, rx: Receiver, tmp: Path, n: int, concurrency: int, processes: int, producer: str
) -> Result:
    from hubwire import Integration
    from hubwire.hub import Hub
    from hubwire.store.engine import migrate
    from hubwire.store.events import append, append_many

    url = fresh_database(system, tmp, n)
    await migrate(url)
    hub = Hub(database_url=url, auto_migrate=False, secret_key=SECRET, data_dir=tmp, allow_private_networks=True)
    committed: dict[int, float] = {}
    register_bench_event()
    async with hub:
        for i in range(w.endpoints):
            await Integration.connect(provider="webhook", url=f"{rx.base}/e{i}", events=["Bench.*"], secret=SIGNING)
        args = [sys.executable, str(HERE), "--hubwire-worker", url, str(tmp), str(concurrency)]
        workers = [subprocess.Popen(args, cwd=ROOT) for _ in range(processes)]  # noqa: ASYNC220  (before timing)
        await asyncio.sleep(2.0)  # let the worker start and go idle
        await rx.dump()
        t0 = time.time()
        for start in range(0, w.events, BATCH):
            seqs = []
            items = [
                ("Bench.Happened", "Bench", f"bench_{i}", {"n": i, "name": "x" * 64}, "bench")
                for i in range(start, min(w.events, start + BATCH))
            ]
            async with hub.transaction() as tx:
                if producer == "page":
                    seqs = [ev.seq for ev in await append_many(tx, items)]
                else:
                    seqs = [(await append(tx, *item)).seq for item in items]
            now = time.time()
            committed.update((s, now) for s in seqs)
        produced = time.time()
        end = await rx.wait_for(w.deliveries)
        print(f"    (events committed in {produced - t0:.1f} s, all delivered at {end - t0:.1f} s)", flush=True)
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            worker.wait(30)
    if system == "hubwire-pg":
        import psycopg

        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]} WITH (FORCE)")
    return Result(system, w, end - t0, latencies(await rx.dump(), committed))


# Celery + Redis -------------------------------------------------------------------------------------


@functools.cache
def celery_app() -> Any:
    from celery import Celery

    app = Celery("bench_webhooks", broker=REDIS)
    app.conf.update(
        task_ignore_result=True, worker_prefetch_multiplier=4, task_acks_late=True, worker_hijack_root_logger=False
    )

    session: dict[str, Any] = {}

    @app.task(name="deliver", bind=True, max_retries=7, acks_late=True)
    def deliver(self: Any, url: str, msg_id: str, body: str) -> None:
        import requests

        from hubwire.webhooks.signing import secret_key, signed_headers

        s = session.get("s")
        if s is None:
            s = session["s"] = requests.Session()
        data = body.encode()
        headers = signed_headers([secret_key(SIGNING)], msg_id, int(time.time()), data)
        headers["content-type"] = "application/json"
        try:
            r = s.post(url, data=data, headers=headers, timeout=15, allow_redirects=False)
            if not 200 <= r.status_code < 300:
                raise RuntimeError(f"HTTP {r.status_code}")
        except Exception as exc:
            raise self.retry(exc=exc, countdown=5) from exc

    return app


def celery_worker(concurrency: int) -> None:
    """A prefork Celery worker; its children fork from here, with the task registered."""
    celery_app().worker_main([*("worker", "-c", str(concurrency), "-P", "prefork", "--loglevel", "WARNING"), *QUIET])


async def run_celery(w: Workload, rx: Receiver, concurrency: int) -> Result:
    import redis

    redis.Redis.from_url(REDIS).flushdb()
    capp = celery_app()
    deliver = capp.tasks["deliver"]
    worker = subprocess.Popen(  # noqa: ASYNC220  (started once, before timing)
        [sys.executable, str(HERE), "--celery-worker", str(concurrency)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        await asyncio.sleep(4.0)
        await rx.dump()
        committed: dict[int, float] = {}
        t0 = time.time()
        with capp.producer_or_acquire() as producer:
            for i in range(w.events):
                body = json.dumps(
                    {"event": "Bench.Happened", "timestamp": "", "seq": i, "data": {"n": i, "name": "x" * 64}}
                )
                committed[i] = time.time()
                for e in range(w.endpoints):
                    deliver.apply_async((f"{rx.base}/e{e}", f"msg_{i}_{e}", body), producer=producer)
                if i % 200 == 0:
                    await asyncio.sleep(0)
        end = await rx.wait_for(w.deliveries)
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(20)
        except subprocess.TimeoutExpired:
            worker.kill()
    return Result("celery", w, end - t0, latencies(await rx.dump(), committed))


# the limit ------------------------------------------------------------------------------------------


async def run_limit(w: Workload, rx: Receiver, concurrency: int, rounds: int = 3) -> Result:
    """The machine's limit: the best of ``rounds`` runs (it varied by up to 1.8x between runs on a shared
    machine, and a low limit would flatter every ratio to it)."""
    results = [await _limit_round(w, rx, concurrency) for _ in range(rounds)]
    print(f"    (limit rounds: {', '.join(f'{r.rate:.0f}/s' for r in results)}; the best is kept)", flush=True)
    return max(results, key=lambda r: r.rate)


async def _limit_round(w: Workload, rx: Receiver, concurrency: int) -> Result:
    import aiohttp

    from hubwire.webhooks.signing import secret_key, signed_headers

    key = secret_key(SIGNING)
    now = int(time.time())
    jobs = []
    for i in range(w.events):
        body = json.dumps(
            {"event": "Bench.Happened", "timestamp": "", "seq": i, "data": {"n": i, "name": "x" * 64}}
        ).encode()
        for e in range(w.endpoints):
            headers = {**signed_headers([key], f"msg_{i}_{e}", now, body), "content-type": "application/json"}
            jobs.append((f"{rx.base}/e{e}", body, headers))
    await rx.dump()
    rtts: list[float] = []
    it = iter(jobs)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as s:

        async def lane() -> None:
            for url, body, headers in it:
                t = time.perf_counter()
                async with s.post(url, data=body, headers=headers) as r:
                    await r.read()
                rtts.append(time.perf_counter() - t)

        t0 = time.time()
        await asyncio.gather(*(lane() for _ in range(concurrency)))
        end = time.time()
    await rx.dump()
    return Result("limit", w, end - t0, rtts)


# main -----------------------------------------------------------------------------------------------


async def main(args: argparse.Namespace) -> None:
    workloads = [
        Workload("20,000 events → 1 endpoint", int(20000 * args.scale), 1),
        Workload("1,000 events → 20 endpoints", int(1000 * args.scale), 20),
    ]
    rx = Receiver()
    results: list[Result] = []
    try:
        with tempfile.TemporaryDirectory() as d:
            tmp = Path(d)
            n = 0
            for w in workloads:
                for system in args.only or SYSTEMS:
                    n += 1
                    if system.startswith("hubwire"):
                        procs = args.pg_workers if system == "hubwire-pg" else args.sqlite_workers
                        r = await run_hubwire(system, w, rx, tmp, n, args.concurrency, procs, args.producer)
                    elif system == "celery":
                        r = await run_celery(w, rx, args.celery_concurrency)
                    else:
                        r = await run_limit(w, rx, args.concurrency)
                    results.append(r)
                    line = f"{r.rate:9.0f}/s  p50 {r.pct(0.5):8.1f} ms  p99 {r.pct(0.99):8.1f} ms"
                    print(f"  {w.name:30} {system:15} {line}", flush=True)
    finally:
        rx.close()
    print()
    head = f"{'deliveries/s':>12} {'p50 ms':>9} {'p99 ms':>9} {'vs celery':>9} {'vs limit':>9}"
    print(f"{'workload':30} {'system':15} {head}")
    for w in workloads:
        by = {r.system: r for r in results if r.workload == w}
        for r in by.values():
            vs_c = r.rate / by["celery"].rate if "celery" in by else float("nan")
            vs_l = r.rate / by["limit"].rate if "limit" in by else float("nan")
            cols = f"{r.rate:12.0f} {r.pct(0.5):9.1f} {r.pct(0.99):9.1f} {vs_c:8.2f}x {vs_l:8.2f}x"
            print(f"{w.name:30} {r.system:15} {cols}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--receiver":
        serve_receiver()
    elif len(sys.argv) > 1 and sys.argv[1] == "--celery-worker":
        celery_worker(int(sys.argv[2]))
    elif len(sys.argv) > 1 and sys.argv[1] == "--hubwire-worker":
        asyncio.run(hubwire_worker(sys.argv[2], sys.argv[3], int(sys.argv[4])))
    else:
        p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
        p.add_argument("--only", nargs="*", choices=SYSTEMS)
        p.add_argument("--scale", type=float, default=1.0, help="multiply the event counts (quick runs: 0.1)")
        p.add_argument("--concurrency", type=int, default=128, help="Hubwire worker / limit client concurrency")
        p.add_argument("--pg-workers", type=int, default=2, help="Hubwire worker processes on PostgreSQL")
        p.add_argument(
            "--sqlite-workers", type=int, default=2, help="Hubwire worker processes on SQLite (sharing the file)"
        )
        p.add_argument("--celery-concurrency", type=int, default=8, help="Celery prefork processes")
        p.add_argument(
            "--producer",
            choices=("page", "single"),
            default="page",
            help="Hubwire's events: one append_many per transaction (as a sync page), or one append per event",
        )
        asyncio.run(main(p.parse_args()))
