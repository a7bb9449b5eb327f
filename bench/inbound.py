"""Inbound provider webhooks: verified, stored, deduplicated and acknowledged per second, against the
same FastAPI app's bare endpoint; then the latency from receipt to entity updated at a steady rate.

Run by hand (not a test): ``.venv/bin/python bench/inbound.py [--db sqlite|pg] [--requests 10000]``.

The server is ``hubwire serve``'s app (``create_app``) in its own process under uvicorn on
127.0.0.1, with one extra route, ``POST /bench/bare``, that reads the body and answers
``{"ok": true}``: what any endpoint costs in the same app (routing, middleware, JSON answer). The
client (this process, aiohttp, 64 concurrent senders on loopback) posts Stripe-signed bodies
(``stripe.WebhookSignature.generate_signature_header``, signed before the clock starts), one in ten
a redelivery of an earlier event, to ``POST /v1/hooks/<integration>``, and the same bodies to the
bare route; the ratio of the two rates is printed (aim >= 0.5).

- ``throughput``: no worker runs in the server (receiving only); each route gets ``--requests``
  requests per round, the bare route then the hooks in each round (a fresh database and server
  per round), best of ``--rounds`` rounds each, so that both meet the same machine.
- ``latency``: the server runs one embedded worker (concurrency 64); the client sends at a steady
  ``--rate`` per second (open loop: each request at its scheduled time, whatever the answers) for
  ``--seconds``; the provider gives each webhook's record (``webhook_records``, as Stripe's does),
  a Customer-like entity that the apply job creates in batches, a page per transaction. Latency:
  the inbox row's ``applied_at`` (written in the transaction that creates the entity, just before
  it commits) minus its ``received_at`` (both the server's clock), p50/p99 over every webhook, with
  the aim checked (p99 < 1 s). ``--worker-process``: the worker in a process of its own (as
  ``hubwire worker``), not embedded in the server.
"""

from __future__ import annotations

import sys

# bench/queue.py is named like the stdlib module asyncio needs: keep bench/ off the path.
if sys.path and sys.path[0] == __import__("os").path.dirname(__import__("os").path.abspath(__file__)):
    del sys.path[0]

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fastapi import Request  # module level: the bare route's annotation is resolved from here

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve()
SECRET = "bench-secret-key-not-for-production"
SIGNING = "whsec_bench_inbound_0123456789abcdef"
PG_ADMIN = os.environ.get("HUBWIRE_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
SENDERS = 64


def declare() -> Any:
    """The bench's provider (Stripe's scheme) and the Noun its webhooks write; returns the Noun."""
    import hubwire
    from hubwire.connectors.registry import Provider, ProviderContext
    from hubwire.inbound.received import ReceivedHook, WebhookRecord
    from hubwire.sync.upsert import Incoming

    customer = hubwire.Noun("BenchCustomer", {"name": "string!", "ref": "string##"})

    class BenchStripe(Provider):
        slug, name = "benchstripe", "Bench Stripe"
        webhook_support = True
        webhook_scheme = "stripe"
        credential_fields = ("webhook_secret",)

        def webhook_event_type(self, headers: Mapping[str, str], payload: Any) -> str | None:
            return payload.get("type") if isinstance(payload, dict) else None

        async def webhook_records(self, ctx: ProviderContext, hook: ReceivedHook) -> list[WebhookRecord]:
            obj = hook.payload["data"]["object"]
            fields = {"name": obj["name"], "ref": hook.event_id}
            item = Incoming(obj["id"], fields, remote_updated=hook.payload["created"])
            return [WebhookRecord("customer", customer, item)]

    hubwire.provider(BenchStripe)
    return customer


def make_hub(url: str, data_dir: str, port: int) -> Any:
    from hubwire.hub import Hub

    return Hub(
        database_url=url,
        data_dir=data_dir,
        secret_key=SECRET,
        public_url=f"http://127.0.0.1:{port}",
        log_level="WARNING",
    )


def serve(url: str, data_dir: str, port: int, workers: int) -> None:
    """The server process: the REST app with the bare route, under uvicorn."""
    import uvicorn

    from hubwire.api.app import create_app
    from hubwire.cli.runtime import configure_logging

    declare()
    hub = make_hub(url, data_dir, port)
    configure_logging(hub.settings)
    app = create_app(hub, workers=workers, worker_concurrency=64)

    @app.post("/bench/bare")
    async def bare(request: Request) -> dict[str, Any]:
        await request.body()
        return {"ok": True}

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def work(url: str, data_dir: str, port: int) -> None:
    """A worker process of its own (``hubwire worker``), applying what the server stores."""
    from hubwire.jobs import Worker

    declare()

    async def run() -> None:
        async with make_hub(url, data_dir, port) as hub:
            await Worker(hub, concurrency=64).run()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())


def start_worker(url: str, data_dir: str, port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, str(HERE), "--work", url, "--data-dir", data_dir, "--port", str(port)])


def fresh_database(db: str, tmp: Path, n: int) -> str:
    if db == "sqlite":
        return f"sqlite:///{tmp / f'inbound-{n}.db'}"
    import psycopg

    name = f"hubwire_bench_inbound_{os.getpid()}_{n}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    return PG_ADMIN.replace("postgresql://", "postgresql+psycopg://").rsplit("/", 1)[0] + f"/{name}"


async def connect(url: str, data_dir: str, port: int) -> str:
    """Migrate the database and connect the bench provider; the Integration's id."""
    from hubwire import Integration

    async with make_hub(url, data_dir, port) as hub:
        integration = await Integration.connect(provider="benchstripe", webhook_secret=SIGNING)
        assert hub.settings.public_url is not None
        return integration.id


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, url: str, data_dir: str, port: int, workers: int) -> None:
        self.port = port
        args = [sys.executable, str(HERE), "--serve", url, "--data-dir", data_dir, "--port", str(port)]
        self.proc = subprocess.Popen([*args, "--workers", str(workers)], cwd=ROOT)

    async def ready(self) -> None:
        import aiohttp

        async with aiohttp.ClientSession() as s:
            for _ in range(300):
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


def signed_bodies(n: int, start: int = 0) -> list[tuple[bytes, dict[str, str]]]:
    """``n`` Stripe events signed by Stripe's library; one in ten repeats an earlier event (a redelivery)."""
    import stripe

    now = int(time.time())
    out = []
    for i in range(n):
        k = start + (i // 10 * 10 if i % 10 == 9 else i)
        body = json.dumps(
            {
                "id": f"evt_bench{k:08d}",
                "object": "event",
                "type": "customer.created",
                "created": now,
                "data": {"object": {"id": f"cus_{k:08d}", "object": "customer", "name": f"Customer {k}"}},
            }
        )
        header = stripe.WebhookSignature.generate_signature_header(body, SIGNING, timestamp=now)
        out.append((body.encode(), {"Stripe-Signature": header, "Content-Type": "application/json"}))
    return out


async def blast(url: str, requests: list[tuple[bytes, dict[str, str]]]) -> float:
    """Send every request with ``SENDERS`` concurrent senders; requests per second. Each must be a 2xx."""
    import aiohttp

    todo = iter(requests)
    failures: list[str] = []

    async def lane(session: aiohttp.ClientSession) -> None:
        for body, headers in todo:
            async with session.post(url, data=body, headers=headers) as r:
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
    return len(requests) / elapsed


async def count_rows(url: str, data_dir: str, port: int) -> tuple[int, int]:
    import sqlalchemy as sa

    from hubwire.store.tables import inbound_hooks, jobs

    async with make_hub(url, data_dir, port) as hub, hub.read() as conn:
        hooks = (await conn.execute(sa.select(sa.func.count()).select_from(inbound_hooks))).scalar_one()
        applies = (await conn.execute(sa.select(sa.func.count()).select_from(jobs))).scalar_one()
    return int(hooks), int(applies)


async def throughput(args: argparse.Namespace, tmp: Path) -> None:
    bare_rates, hook_rates = [], []
    unique = 0
    for n in range(args.rounds):
        url, port, data_dir = fresh_database(args.db, tmp, n), free_port(), str(tmp)
        integration = await connect(url, data_dir, port)
        server = Server(url, data_dir, port, workers=0)
        try:
            await server.ready()
            base = f"http://127.0.0.1:{port}"
            # Signed just before they are sent: Stripe's signatures are good for five minutes.
            requests = signed_bodies(args.requests)
            unique = len({b for b, _ in requests})
            bare_rates.append(await blast(f"{base}/bench/bare", requests))
            hook_rates.append(await blast(f"{base}/v1/hooks/{integration}", requests))
        finally:
            server.stop()
        stored = await count_rows(url, data_dir, port)
        assert stored == (unique, 1), f"stored {stored}, expected {unique} rows and one apply job"
    bare, hooks = max(bare_rates), max(hook_rates)
    print(
        f"throughput ({args.db}, {args.requests} Stripe-signed webhooks, 10% redelivered, {SENDERS} senders): "
        f"bare endpoint {bare:,.0f}/s, verified+stored+deduplicated+acknowledged {hooks:,.0f}/s, "
        f"ratio {hooks / bare:.2f}, aim >= 0.5: {'met' if hooks / bare >= 0.5 else 'NOT met'} "
        f"(rounds: bare {[round(r) for r in bare_rates]}, hooks {[round(r) for r in hook_rates]})"
    )


async def latency(args: argparse.Namespace, tmp: Path) -> None:
    import aiohttp
    import sqlalchemy as sa

    from hubwire.store.tables import entities, inbound_hooks

    total = int(args.rate * args.seconds)
    requests = signed_bodies(total, start=10**7)
    unique = len({b for b, _ in requests})
    url, port, data_dir = fresh_database(args.db, tmp, 99), free_port(), str(tmp)
    integration = await connect(url, data_dir, port)
    server = Server(url, data_dir, port, workers=0 if args.worker_process else 1)
    worker = start_worker(url, data_dir, port) if args.worker_process else None
    try:
        await server.ready()
        target = f"http://127.0.0.1:{port}/v1/hooks/{integration}"
        failures: list[int] = []
        connector = aiohttp.TCPConnector(limit=SENDERS * 4)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def send(at: float, body: bytes, headers: dict[str, str]) -> None:
                await asyncio.sleep(max(0.0, at - time.perf_counter()))
                async with session.post(target, data=body, headers=headers) as r:
                    await r.read()
                    if r.status >= 300:
                        failures.append(r.status)

            t0 = time.perf_counter() + 0.5
            await asyncio.gather(*(send(t0 + i / args.rate, b, h) for i, (b, h) in enumerate(requests)))
            sent_for = time.perf_counter() - t0
        if failures:
            raise RuntimeError(f"{len(failures)} requests failed: {failures[:5]}")
        deadline = time.monotonic() + 120
        while True:
            async with make_hub(url, data_dir, port) as hub, hub.read() as conn:
                applied = (
                    await conn.execute(
                        sa.select(sa.func.count()).select_from(inbound_hooks).where(inbound_hooks.c.status == "applied")
                    )
                ).scalar_one()
            if applied >= unique or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
    finally:
        server.stop()
        if worker is not None:
            worker.send_signal(signal.SIGINT)
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()
    h = inbound_hooks.c
    async with make_hub(url, data_dir, port) as hub, hub.read() as conn:
        rows = (await conn.execute(sa.select(h.received_at, h.applied_at).where(h.status == "applied"))).all()
        customers = sa.select(sa.func.count()).select_from(entities).where(entities.c.type == "BenchCustomer")
        made = (await conn.execute(customers)).scalar_one()
    assert made == unique, f"{made} entities for {unique} events"
    lat = sorted(r.applied_at - r.received_at for r in rows)
    assert len(lat) == unique, f"{len(lat)} webhooks applied of {unique}"

    def pct(p: float) -> float:
        return lat[min(len(lat) - 1, int(p * len(lat)))] * 1000

    p99 = pct(0.99)
    print(
        f"latency ({args.db}, {total} webhooks at {args.rate:g}/s, sent in {sent_for:.1f} s, "
        f"1 {'worker process' if args.worker_process else 'embedded worker'}): "
        f"receipt to entity created p50 {pct(0.50):.0f} ms, p99 {p99:.0f} ms, max {lat[-1] * 1000:.0f} ms; "
        f"aim p99 < 1000 ms: {'met' if p99 < 1000 else 'NOT met'}"
    )


async def main(args: argparse.Namespace) -> None:
    declare()
    with tempfile.TemporaryDirectory(prefix="hubwire-bench-inbound-") as d:
        tmp = Path(d)
        if "throughput" in args.only:
            await throughput(args, tmp)
        if "latency" in args.only:
            await latency(args, tmp)


if __name__ == "__main__":
    if "--work" in sys.argv:
        p = argparse.ArgumentParser()
        p.add_argument("--work")
        p.add_argument("--data-dir")
        p.add_argument("--port", type=int)
        a = p.parse_args()
        work(a.work, a.data_dir, a.port)
    elif "--serve" in sys.argv:
        p = argparse.ArgumentParser()
        p.add_argument("--serve")
        p.add_argument("--data-dir")
        p.add_argument("--port", type=int)
        p.add_argument("--workers", type=int, default=0)
        a = p.parse_args()
        serve(a.serve, a.data_dir, a.port, a.workers)
    else:
        p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
        p.add_argument("--db", choices=("sqlite", "pg"), default="sqlite")
        p.add_argument("--only", nargs="*", choices=("throughput", "latency"), default=["throughput", "latency"])
        p.add_argument("--requests", type=int, default=10000, help="requests per route per throughput round")
        p.add_argument("--rounds", type=int, default=2)
        p.add_argument("--rate", type=float, default=500.0, help="webhooks per second in the latency run")
        p.add_argument("--seconds", type=float, default=20.0, help="how long the latency run sends")
        p.add_argument(
            "--worker-process", action="store_true", help="latency: the worker in a process of its own, not embedded"
        )
        asyncio.run(main(p.parse_args()))
