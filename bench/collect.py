"""Event collection and forwarding: ``POST /v1/collect`` against the same app's bare endpoint, and
forwarding to three destinations against the official ``posthog`` client, same run.

Run by hand (not a test): ``.venv/bin/python bench/collect.py [--db sqlite pg] [--only collect forward query]``.

- ``collect``: the server is ``hubwire serve``'s app (``create_app``, no worker) in its own process
  under uvicorn on 127.0.0.1, with one extra route, ``POST /bench/bare``, that reads the body and
  answers ``{"ok": true}`` (what any endpoint costs in that app), placed just before
  ``/v1/collect`` so that both pay the same route matching (both are the app's own routes, at the
  front). The server process is set up as ``hubwire serve`` sets itself
  up (``tune_garbage_collector``). An ``analytics`` Integration collects for three destinations
  (PostHog, Mixpanel, Segment), so every accepted request's events are in three outbox rows (one
  per destination) and the lakehouse outbox, committed before the 202. The client (this process, aiohttp,
  64 concurrent senders) posts batches of 20 events with a collect-only ``pk_`` key in the query
  (as ``collect.js``'s beacons do) to ``/v1/collect``, and the same bodies to the bare route before
  and after; events per second of each, in ``--rounds`` rounds (a fresh database and server per
  round). The ratio (aim >= 0.5) is read paired: each round's ``/v1/collect`` against the mean of
  its two bare runs, the median of the rounds. This machine's speed drifts by tens of percent
  within a minute, and the best of each side apart let one lucky bare run decide; that ratio of
  the bests is printed too, with the server's CPU per event of each side (the least of the
  rounds). The per-key rate limit is set out of the way (``collect_rate_limit``): the bench
  measures the endpoint, not the limiter. After each round the outbox must hold every event sent,
  once for each destination.
- ``forward``: the PostHog, Mixpanel and Segment simulators run in their own process (spec checks
  off: the simulators' CPU is not what is measured). Hubwire: one worker process
  (``Worker(concurrency=32)``) is started and idle; this process then hands over ``--events``
  events with :func:`hubwire.analytics.record_collected` in calls of 20 events (what
  ``/v1/collect`` commits per request) from ``SENDERS`` concurrent senders (as the requests of the
  collect part arrive; they commit in groups), and the clock stops when every destination holds every
  event (counted by their dedupe ids: PostHog ``uuid``, Mixpanel ``$insert_id``, Segment
  ``messageId``; none may be missing). The analytics Integration flushes once 100 events gathered, or
  every 0.5 s (the ``posthog`` client's defaults); as documented, a request carries what is pending
  up to the destination's own limit (PostHog 1,000 events, Mixpanel 2,000, Segment 100), where the
  client sends 100. Peer: the official ``posthog`` client
  (``flush_at=100``, ``flush_interval=0.5``, its consumer thread) captures the same events to the
  PostHog simulator, clock from the first ``capture`` to the simulator holding them all. Printed:
  events/s to all three destinations, deliveries/s (event x destination), the peer's events/s and
  the ratio of the best of ``--rounds`` of each, taken in turns (aim >= 1x).
- ``query``: ``bench/lakehouse.py`` (events per day per name over ``--query-events`` events, DuckDB
  on the Iceberg table vs the same query on the event log in PostgreSQL; its docstring says how).
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
import signal
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from fastapi import Request  # module level: the bare route's annotation is resolved from here

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve()
SECRET = "bench-secret-key-not-for-production"
PG_ADMIN = os.environ.get("HUBWIRE_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
SENDERS = 64
PER_REQUEST = 20
DESTINATIONS = ("posthog", "mixpanel", "segment")


# The simulators' process -------------------------------------------------------------------------


def serve_simulators() -> None:
    """PostHog, Mixpanel and Segment simulators, and ``/_count`` (distinct ids held by each) and
    ``/_reset`` on a control port; prints the four ports on one line."""
    from aiohttp import web

    from hubwire.simulators import MixpanelSimulator, PostHogSimulator, SegmentSimulator

    async def main() -> None:
        # Everything kept (keep_requests would also drop the oldest events the counts read).
        ph = await PostHogSimulator().start()
        mp = await MixpanelSimulator(check_spec=False).start()
        seg = await SegmentSimulator().start()

        # Each destination's dedupe ids, read incrementally: the bench polls every 20 ms, and
        # counting every event held on each poll took CPU from what is measured.
        received: dict[str, list[Any]] = {"posthog": ph.events, "mixpanel": mp.events, "segment": seg.messages}
        dedupe_id = {
            "posthog": lambda e: e.uuid,
            "mixpanel": lambda e: e.properties.get("$insert_id"),
            "segment": lambda m: m.message_id,
        }
        seen: dict[str, set[Any]] = {name: set() for name in received}
        read = dict.fromkeys(received, 0)  # how many of each list are in seen

        async def count(request: web.Request) -> web.Response:
            counts: dict[str, Any] = {}
            for name, items in received.items():
                seen[name].update(dedupe_id[name](e) for e in items[read[name] :])
                read[name] = len(items)
                counts[name] = len(seen[name])
            counts["received"] = [len(items) for items in received.values()]
            return web.json_response(counts)

        async def reset(request: web.Request) -> web.Response:
            for name, items in received.items():
                items.clear()
                seen[name].clear()
                read[name] = 0
            return web.json_response({})

        app = web.Application()
        app.router.add_get("/_count", count)
        app.router.add_post("/_reset", reset)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        print(runner.addresses[0][1], ph.port, mp.port, seg.port, flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


class Simulators:
    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, str(HERE), "--simulators"], stdout=subprocess.PIPE, cwd=ROOT)
        assert self.proc.stdout is not None
        control, ph, mp, seg = (int(p) for p in self.proc.stdout.readline().split())
        self.control = f"http://127.0.0.1:{control}"
        self.urls = {name: f"http://127.0.0.1:{p}" for name, p in zip(DESTINATIONS, (ph, mp, seg), strict=True)}

    async def counts(self) -> dict[str, Any]:
        import aiohttp

        async with aiohttp.ClientSession() as s, s.get(self.control + "/_count") as r:
            return dict(await r.json())

    async def wait_for(self, names: tuple[str, ...], total: int, timeout: float = 600.0) -> float:
        """When every named destination holds ``total`` distinct events (time.perf_counter())."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            counts = await self.counts()
            if all(counts[n] >= total for n in names):
                return time.perf_counter()
            await asyncio.sleep(0.02)
        raise TimeoutError(f"the destinations hold {await self.counts()}, not {total} each, after {timeout}s")

    async def reset(self) -> None:
        import aiohttp

        async with aiohttp.ClientSession() as s, s.post(self.control + "/_reset") as r:
            await r.read()

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


# Hubwire ---------------------------------------------------------------------------------------


def make_hub(url: str, data_dir: str, **settings: Any) -> Any:
    from hubwire.hub import Hub

    return Hub(
        database_url=url,
        data_dir=data_dir,
        secret_key=SECRET,
        allow_private_networks=True,  # the simulators are on loopback
        collect_rate_limit=1e9,
        log_level="WARNING",
        **settings,
    )


def fresh_database(db: str, tmp: Path, n: int) -> str:
    if db == "sqlite":
        return f"sqlite:///{tmp / f'collect-{n}.db'}"
    import psycopg

    name = f"hubwire_bench_collect_{os.getpid()}_{n}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    return PG_ADMIN.replace("postgresql://", "postgresql+psycopg://").rsplit("/", 1)[0] + f"/{name}"


def drop_database(db: str, url: str) -> None:
    if db == "pg":
        import psycopg

        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]} WITH (FORCE)")


async def connect(url: str, data_dir: str, sims: dict[str, str]) -> str:
    """Migrate, connect the analytics Integration (three destinations) and create a collect key; the key."""
    from hubwire import Integration
    from hubwire.api.keys import create_api_key
    from hubwire.api.scopes import Scope
    from hubwire.simulators.mixpanel import DEFAULT_API_SECRET
    from hubwire.simulators.posthog import DEFAULT_PROJECT_KEY
    from hubwire.simulators.segment import DEFAULT_WRITE_KEY

    async with make_hub(url, data_dir) as hub:
        await Integration.connect(
            provider="analytics",
            destinations={
                "posthog": {"api_key": DEFAULT_PROJECT_KEY, "host": sims["posthog"]},
                "mixpanel": {"api_secret": DEFAULT_API_SECRET, "host": sims["mixpanel"]},
                "segment": {"write_key": DEFAULT_WRITE_KEY, "host": sims["segment"]},
            },
            batch_size=100,
            flush_interval=0.5,
        )
        _record, key = await create_api_key(hub, "bench site", Scope.COLLECT)
        assert key.startswith("pk_")
        return key


def collect_position(routes: list[Any]) -> int:
    """Where ``/v1/collect`` is among the app's routes: its own route, or (code before stop 20, for
    before/after runs) the included router that holds it."""
    for i, route in enumerate(routes):
        inner = getattr(getattr(route, "original_router", None), "routes", [])
        if any(getattr(r, "path", None) == "/v1/collect" for r in [route, *inner]):
            return i
    raise LookupError("the app serves no /v1/collect")


def serve(url: str, data_dir: str, port: int) -> None:
    """The server process: the REST app (no worker) with the bare route, under uvicorn."""
    import uvicorn

    from hubwire.api.app import create_app
    from hubwire.cli.runtime import configure_logging, tune_garbage_collector

    hub = make_hub(url, data_dir, public_url=f"http://127.0.0.1:{port}")
    configure_logging(hub.settings)
    app = create_app(hub, workers=0)

    @app.post("/bench/bare")
    async def bare(request: Request) -> dict[str, Any]:
        await request.body()
        return {"ok": True}

    # FastAPI tries the routes in order: the bare route goes just before /v1/collect (also one of
    # the app's own routes), so that both pay the same routing (appended last, it would pay for
    # trying every route of the app).
    routes = app.router.routes
    routes.insert(collect_position(routes), routes.pop())
    tune_garbage_collector()  # as `hubwire serve` does once started

    profile = os.environ.get("HUBWIRE_BENCH_PROFILE")  # a file: the server's cProfile stats, written at exit
    if profile:
        import cProfile

        with cProfile.Profile() as prof:
            uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
        prof.dump_stats(profile)
        return
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


async def hubwire_worker(url: str, data_dir: str) -> None:
    from hubwire.cli.runtime import tune_garbage_collector
    from hubwire.jobs import Worker

    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with make_hub(url, data_dir, auto_migrate=False) as hub:
        worker = Worker(hub, concurrency=32, lease=30.0, poll_interval=0.1)
        tune_garbage_collector()  # as `hubwire worker` does once started
        await worker.run(stop)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, url: str, data_dir: str, port: int) -> None:
        self.port = port
        args = [sys.executable, str(HERE), "--serve", url, "--data-dir", data_dir, "--port", str(port)]
        self.proc = subprocess.Popen(args, cwd=ROOT)

    async def ready(self) -> None:
        import aiohttp

        async with aiohttp.ClientSession() as s:
            for _ in range(1200):  # two minutes: a loaded machine takes its time to import the app
                try:
                    async with s.get(f"http://127.0.0.1:{self.port}/healthz") as r:
                        if r.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        raise RuntimeError("the server did not start")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def batches(requests: int, start: int = 0) -> list[bytes]:
    """``requests`` bodies of ``PER_REQUEST`` events each, as ``collect.js`` sends them."""
    from datetime import UTC, datetime

    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    out = []
    for r in range(requests):
        events = [
            {
                "id": f"{start + r:012x}{i:012x}",
                "event": "page_view" if i % 4 else "add_to_cart",
                "distinct_id": f"anon_{(start + r) % 5000:024x}",
                "timestamp": now,
                "properties": {
                    "url": f"https://shop.example.com/products/{i}",
                    "path": f"/products/{i}",
                    "referrer": "https://example.com/",
                    "title": "A product",
                },
            }
            for i in range(PER_REQUEST)
        ]
        out.append(json.dumps({"batch": events}).encode())
    return out


async def blast(url: str, bodies: list[bytes]) -> float:
    """Post every body with ``SENDERS`` concurrent senders; events per second. Each must be a 2xx."""
    import aiohttp

    todo = iter(bodies)
    failures: list[str] = []

    async def lane(session: aiohttp.ClientSession) -> None:
        for body in todo:
            async with session.post(url, data=body, headers={"Content-Type": "text/plain"}) as r:
                await r.read()
                if r.status >= 300:
                    failures.append(f"{r.status} {(await r.text())[:200]}")

    connector = aiohttp.TCPConnector(limit=SENDERS)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.perf_counter()
        await asyncio.gather(*(lane(session) for _ in range(SENDERS)))
        elapsed = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"{len(failures)} requests failed, e.g. {failures[0]}")
    return len(bodies) * PER_REQUEST / elapsed


async def outbox_events(url: str, data_dir: str) -> int:
    """The events waiting in the forwarding outbox (every destination's)."""
    import sqlalchemy as sa

    from hubwire.store.tables import analytics_outbox

    async with make_hub(url, data_dir, auto_migrate=False) as hub, hub.read() as conn:
        return int((await conn.execute(sa.select(sa.func.sum(analytics_outbox.c.count)))).scalar_one() or 0)


def cpu_seconds(pid: int) -> float:
    """User and system CPU seconds of a process so far (Linux: /proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def timed_blast(pid: int, url: str, bodies: list[bytes], cpu: list[float]) -> float:
    """:func:`blast`'s events per second; the server's CPU per event appended to ``cpu`` (us)."""
    before = cpu_seconds(pid)
    rate = await blast(url, bodies)
    cpu.append((cpu_seconds(pid) - before) / (len(bodies) * PER_REQUEST) * 1e6)
    return rate


async def collect(args: argparse.Namespace, db: str, sims: Simulators, tmp: Path) -> None:
    bare_rates: list[float] = []
    collect_rates: list[float] = []
    paired: list[float] = []
    bare_cpu: list[float] = []
    collect_cpu: list[float] = []
    events = args.requests * PER_REQUEST
    for n in range(args.rounds):
        url, port, data_dir = fresh_database(db, tmp, n), free_port(), str(tmp)
        key = await connect(url, data_dir, sims.urls)
        server = Server(url, data_dir, port)
        try:
            await server.ready()
            base = f"http://127.0.0.1:{port}"
            bodies = batches(args.requests, start=n * args.requests)

            # /v1/collect between two runs of the bare route: the machine's drift within the round
            # weighs on both sides alike.
            pid = server.proc.pid
            before = await timed_blast(pid, f"{base}/bench/bare", bodies, bare_cpu)
            got = await timed_blast(pid, f"{base}/v1/collect?key={key}", bodies, collect_cpu)
            after = await timed_blast(pid, f"{base}/bench/bare", bodies, bare_cpu)
            bare_rates += [before, after]
            collect_rates.append(got)
            paired.append(got / ((before + after) / 2))
        finally:
            server.stop()
        queued = await outbox_events(url, data_dir)
        expected = events * len(DESTINATIONS)
        assert queued == expected, f"{queued} events in the outbox, expected {expected}"
        drop_database(db, url)
    bare, got = max(bare_rates), max(collect_rates)
    cpu_bare, cpu_collect = min(bare_cpu), min(collect_cpu)
    print(
        f"collect ({db}, {args.requests} requests of {PER_REQUEST} events, {SENDERS} senders, collect-only key, "
        f"3 destinations): bare endpoint {bare:,.0f} events/s, /v1/collect {got:,.0f} events/s (best of each); "
        f"ratio: paired {statistics.median(paired):.2f} (median of the rounds' {[round(r, 2) for r in paired]}), "
        f"of the bests {got / bare:.2f} (rounds: bare {[round(r) for r in bare_rates]}, "
        f"collect {[round(r) for r in collect_rates]}); server CPU per event: bare {cpu_bare:.0f} us, "
        f"collect {cpu_collect:.0f} us, ratio {cpu_bare / cpu_collect:.2f}",
        flush=True,
    )


def analytics_events(n: int) -> list[Any]:
    from hubwire.analytics import AnalyticsEvent

    now = time.time()
    return [
        AnalyticsEvent(
            f"col_bench{i:08d}",
            "page_view" if i % 4 else "add_to_cart",
            f"visitor_{i % 5000}",
            now,
            {"path": f"/products/{i % 50}", "referrer": "https://example.com/", "plan": "pro"},
            "collect",
        )
        for i in range(n)
    ]


async def forward_hubwire(args: argparse.Namespace, db: str, sims: Simulators, tmp: Path, n: int) -> float:
    from hubwire.analytics import pending_counts, record_collected

    url, data_dir = fresh_database(db, tmp, 100 + n), str(tmp)
    await connect(url, data_dir, sims.urls)
    await sims.reset()
    events = analytics_events(args.events)
    args_ = [sys.executable, str(HERE), "--hubwire-worker", url, data_dir]
    worker = subprocess.Popen(args_, cwd=ROOT)  # noqa: ASYNC220  (before timing)
    try:
        async with make_hub(url, data_dir, auto_migrate=False) as hub:
            await asyncio.sleep(3.0)  # let the worker start and go idle
            t0 = time.perf_counter()
            requests = iter(range(0, len(events), PER_REQUEST))

            async def sender() -> None:
                for i in requests:
                    await record_collected(hub, events[i : i + PER_REQUEST])

            await asyncio.gather(*(sender() for _ in range(SENDERS)))
            handed = time.perf_counter()
            end = await sims.wait_for(DESTINATIONS, args.events)
            # The last batches' rows are deleted once their answers are in: let those commit.
            for _ in range(300):
                left = await pending_counts(hub)
                if not any(v["pending"] or v["dead"] for v in left.values()):
                    break
                await asyncio.sleep(0.1)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(30)
    counts = await sims.counts()
    assert all(counts[d] == args.events for d in DESTINATIONS), f"lost or extra events: {counts}"
    assert not any(v["pending"] or v["dead"] for v in left.values()), f"left in the outbox: {left}"
    drop_database(db, url)
    rate = args.events / (end - t0)
    print(
        f"forward hubwire-{db} ({args.events} events to PostHog, Mixpanel and Segment): "
        f"handed over in {handed - t0:.1f} s, all at every destination at {end - t0:.1f} s: "
        f"{rate:,.0f} events/s, {rate * len(DESTINATIONS):,.0f} deliveries/s; "
        f"received (with redeliveries) {counts['received']}, distinct {[counts[d] for d in DESTINATIONS]}",
        flush=True,
    )
    return rate


async def forward_posthog(args: argparse.Namespace, sims: Simulators) -> float:
    from posthog import Posthog

    from hubwire.simulators.posthog import DEFAULT_PROJECT_KEY

    await sims.reset()
    events = analytics_events(args.events)
    client = Posthog(
        DEFAULT_PROJECT_KEY, host=sims.urls["posthog"], flush_at=100, flush_interval=0.5, max_queue_size=1_000_000
    )
    try:
        t0 = time.perf_counter()
        for e in events:
            client.capture(
                e.name, distinct_id=e.distinct_id, properties=e.properties, uuid=str(uuid.UUID(int=int(e.id[9:])))
            )
        handed = time.perf_counter()
        end = await sims.wait_for(("posthog",), args.events)
    finally:
        await asyncio.to_thread(client.shutdown)
    counts = await sims.counts()
    assert counts["posthog"] == args.events, f"lost or extra events: {counts}"
    rate = args.events / (end - t0)
    print(
        f"forward posthog-client ({args.events} events to PostHog): captured in {handed - t0:.1f} s, "
        f"all at the destination at {end - t0:.1f} s: {rate:,.0f} events/s",
        flush=True,
    )
    return rate


def lakehouse_bench() -> Any:
    """bench/lakehouse.py as a module (bench/ is kept off sys.path, see above)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_lakehouse", Path(__file__).with_name("lakehouse.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def main(args: argparse.Namespace) -> None:
    sims = Simulators()
    try:
        with tempfile.TemporaryDirectory(prefix="hubwire-bench-collect-") as d:
            tmp = Path(d)
            if "collect" in args.only:
                for db in args.db:
                    await collect(args, db, sims, tmp)
            if "forward" in args.only:
                # Rounds taken in turns (the peer, then each database), best of each, as the collect part.
                peers: list[float] = []
                rates: dict[str, list[float]] = {db: [] for db in args.db}
                for n in range(args.rounds):
                    peers.append(await forward_posthog(args, sims))
                    for db in args.db:
                        rates[db].append(await forward_hubwire(args, db, sims, tmp, n))
                peer = max(peers)
                for db, got in rates.items():
                    rate = max(got)
                    print(
                        f"forward ratio hubwire-{db} (3 destinations) / posthog client (1), best of {args.rounds}: "
                        f"{rate / peer:.2f}x events, {rate * len(DESTINATIONS) / peer:.2f}x deliveries "
                        f"(rounds: posthog {[round(r) for r in peers]}, hubwire {[round(r) for r in got]} events/s)",
                        flush=True,
                    )
            if "query" in args.only:  # bench/lakehouse.py: DuckDB on the Iceberg table vs PostgreSQL's event log
                await lakehouse_bench().run(args.query_events, args.query_runs)
    finally:
        sims.close()


if __name__ == "__main__":
    if "--simulators" in sys.argv:
        serve_simulators()
    elif "--hubwire-worker" in sys.argv:
        asyncio.run(hubwire_worker(sys.argv[2], sys.argv[3]))
    elif "--serve" in sys.argv:
        p = argparse.ArgumentParser()
        p.add_argument("--serve")
        p.add_argument("--data-dir")
        p.add_argument("--port", type=int)
        a = p.parse_args()
        serve(a.serve, a.data_dir, a.port)
    else:
        p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
        p.add_argument("--db", nargs="*", choices=("sqlite", "pg"), default=["sqlite", "pg"])
        parts = ("collect", "forward", "query")
        p.add_argument("--only", nargs="*", choices=parts, default=list(parts))
        p.add_argument("--requests", type=int, default=1000, help="collect requests per route per round")
        p.add_argument("--rounds", type=int, default=2, help="rounds of the collect and forward parts (best of)")
        p.add_argument("--events", type=int, default=20000, help="events forwarded per system")
        p.add_argument("--query-events", type=int, default=1_000_000, help="events in the lakehouse query part")
        p.add_argument("--query-runs", type=int, default=5)
        asyncio.run(main(p.parse_args()))
