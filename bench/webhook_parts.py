"""Where a webhook delivery's CPU goes: each part of ``bench/webhooks.py`` measured alone.

Run by hand (not a test): ``.venv/bin/python bench/webhook_parts.py [--only hubwire-sqlite] [--events 20000]``.

The same pieces as ``bench/webhooks.py`` (its receiver, its events, its Hubwire settings), but one
at a time, so each is timed without the others competing for the CPUs. CPU time is the process's
(all its threads: aiosqlite's included); PostgreSQL's is its backends' CPU from /proc, when the
server runs on this machine.

- ``receiver``: the bench's aiohttp receiver, per request (measured while the limit client runs).
- ``limit client``: the limit's aiohttp client per request, bodies signed before timing.
- ``Deliverer.post``: Hubwire's signed POST through its pooled session, ``--concurrency`` (128)
  at a time, alone.
- ``producer``: ``append_many`` pages of 100 events, with the fan-out's delivery rows and jobs, to
  1 endpoint; no worker running.
- ``worker, POST a no-op``: ``Worker(concurrency=128)`` (``--concurrency``) draining those
  deliveries with the POST replaced by a no-op: what durability costs the worker (claim, attempts
  log, completion).
- ``worker``: the same with the real POST.

It then prints the limit's CPU per delivery (client + receiver) against Hubwire's (producer +
worker + receiver + database) and their ratio: the share of the limit these parts allow when
every CPU stays busy and running side by side costs nothing. ``bench/webhooks.py``'s "vs limit"
measures the same parts running together, and is lower by what they lose to each other.
On a shared machine single figures vary by up to a third between runs: compare within a run,
and repeat.
"""

from __future__ import annotations

import sys

# bench/queue.py is named like the stdlib module asyncio needs: keep bench/ off the path.
if sys.path and sys.path[0] == __import__("os").path.dirname(__import__("os").path.abspath(__file__)):
    del sys.path[0]

import argparse
import asyncio
import importlib.util
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("bench_webhooks", HERE / "webhooks.py")
assert _spec is not None and _spec.loader is not None
wb: Any = importlib.util.module_from_spec(_spec)
sys.modules["bench_webhooks"] = wb  # its dataclasses look their module up
_spec.loader.exec_module(wb)


def proc_cpu(pid: int | str) -> float:
    """utime + stime of a process, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_cpu() -> float:
    """The CPU of every PostgreSQL process on this machine (0 where there is none, or no /proc)."""
    total = 0.0
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/comm") as f:
                    if f.read().strip() == "postgres":
                        total += proc_cpu(pid)
            except OSError:
                continue  # gone meanwhile
    return total


class Meter:
    """CPU seconds of this process, the receiver and PostgreSQL between enter and exit."""

    def __init__(self, rx: Any) -> None:
        self.rx = rx

    def __enter__(self) -> Meter:
        self._own, self._rx, self._pg = time.process_time(), proc_cpu(self.rx.proc.pid), postgres_cpu()
        return self

    def __exit__(self, *exc: object) -> None:
        self.own = time.process_time() - self._own
        self.receiver = proc_cpu(self.rx.proc.pid) - self._rx
        self.postgres = postgres_cpu() - self._pg


async def produce(hub: Any, events: int) -> None:
    from hubwire.store.events import append_many

    for start in range(0, events, wb.BATCH):
        items = [
            ("Bench.Happened", "Bench", f"bench_{i}", {"n": i, "name": "x" * 64}, "bench")
            for i in range(start, min(events, start + wb.BATCH))
        ]
        async with hub.transaction() as tx:
            await append_many(tx, items)


async def drain(hub: Any, jobs: int, concurrency: int) -> None:
    from hubwire.jobs import Worker

    worker = Worker(hub, concurrency=concurrency, lease=30.0)
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    while worker.processed < jobs:  # noqa: ASYNC110  (the worker has no event for "n jobs done")
        await asyncio.sleep(0.01)
    stop.set()
    await running


async def no_post(ep: Any, msg_id: str, body: bytes) -> tuple[int, str, None, None]:
    await asyncio.sleep(0)  # one turn of the loop, as a request's completion would take
    return 200, "ok", None, None


async def hubwire_parts(system: str, rx: Any, tmp: Path, n: int, events: int, concurrency: int) -> dict[str, float]:
    """µs per delivery of each Hubwire part on ``system``."""
    from hubwire import Integration
    from hubwire.hub import Hub
    from hubwire.store.engine import migrate
    from hubwire.webhooks.delivery import deliverer

    url = wb.fresh_database(system, tmp, n)
    await migrate(url)
    hub = Hub(database_url=url, auto_migrate=False, secret_key=wb.SECRET, data_dir=tmp, allow_private_networks=True)
    per = 1e6 / events
    out: dict[str, float] = {}
    async with hub:
        wb.register_bench_event()
        await Integration.connect(provider="webhook", url=f"{rx.base}/e0", events=["Bench.*"], secret=wb.SIGNING)
        with Meter(rx) as first:
            await produce(hub, events)
        d = deliverer(hub)
        d.post = no_post  # type: ignore[method-assign]
        with Meter(rx) as fake:
            await drain(hub, events, concurrency)
        del d.post  # the real one again
        with Meter(rx) as second:
            await produce(hub, events)
        await rx.dump()
        with Meter(rx) as real:
            await drain(hub, events, concurrency)
        if len(await rx.dump()) < events:
            raise SystemExit(f"{system}: the receiver got fewer than {events} deliveries")
    if system == "hubwire-pg":
        import psycopg

        with psycopg.connect(wb.PG_ADMIN, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]} WITH (FORCE)")
    out["producer"] = (first.own + second.own) / 2 * per
    out["worker, POST a no-op"] = fake.own * per
    out["worker"] = real.own * per
    out["receiver"] = real.receiver * per
    if system == "hubwire-pg":
        out["postgres (producer)"] = (first.postgres + second.postgres) / 2 * per
        out["postgres (worker)"] = real.postgres * per
    return out


async def post_alone(rx: Any, tmp: Path, events: int, concurrency: int) -> float:
    """µs of CPU per ``Deliverer.post``, ``concurrency`` at a time, nothing else running."""
    from hubwire import Integration
    from hubwire.hub import Hub
    from hubwire.webhooks.delivery import deliverer

    hub = Hub(
        database_url=f"sqlite:///{tmp / 'post.db'}", secret_key=wb.SECRET, data_dir=tmp, allow_private_networks=True
    )
    wb.register_bench_event()
    async with hub:
        integration = await Integration.connect(
            provider="webhook", url=f"{rx.base}/e0", events=["Bench.*"], secret=wb.SIGNING
        )
        d = deliverer(hub)
        ep = await d.cache.get(integration.id)
        bodies = [
            json.dumps(
                {"event": "Bench.Happened", "timestamp": "", "seq": i, "data": {"n": i, "name": "x" * 64}}
            ).encode()
            for i in range(events)
        ]
        todo = iter(enumerate(bodies))

        async def lane() -> None:
            for i, body in todo:
                code, _, error, _ = await d.post(ep, f"msg_{i}", body)
                if code != 200:
                    raise SystemExit(f"Deliverer.post: {code} {error}")

        await rx.dump()
        with Meter(rx) as m:
            await asyncio.gather(*(lane() for _ in range(concurrency)))
        await rx.dump()
    return m.own * 1e6 / events


async def limit_parts(rx: Any, events: int, concurrency: int) -> tuple[float, float]:
    """µs of CPU per request of the limit's client (signing before timing excluded) and of the receiver."""
    import aiohttp

    from hubwire.webhooks.signing import secret_key, signed_headers

    key, now = secret_key(wb.SIGNING), int(time.time())
    jobs = []
    for i in range(events):
        body = json.dumps({"event": "Bench.Happened", "timestamp": "", "seq": i, "data": {"n": i, "name": "x" * 64}})
        headers = {**signed_headers([key], f"msg_{i}", now, body.encode()), "content-type": "application/json"}
        jobs.append((f"{rx.base}/e0", body.encode(), headers))
    todo = iter(jobs)
    await rx.dump()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as s:

        async def lane() -> None:
            for url, body, headers in todo:
                async with s.post(url, data=body, headers=headers) as r:
                    await r.read()

        with Meter(rx) as m:
            await asyncio.gather(*(lane() for _ in range(concurrency)))
    await rx.dump()
    return m.own * 1e6 / events, m.receiver * 1e6 / events


async def main(args: argparse.Namespace) -> None:
    systems = args.only or ["hubwire-sqlite", "hubwire-pg"]
    rx = wb.Receiver()
    try:
        with tempfile.TemporaryDirectory() as d:
            tmp = Path(d)
            client, receiver = await limit_parts(rx, args.events, args.concurrency)
            post = await post_alone(rx, tmp, args.events, args.concurrency)
            parts = {
                s: await hubwire_parts(s, rx, tmp, i, args.events, args.concurrency) for i, s in enumerate(systems)
            }
    finally:
        rx.close()

    limit = client + receiver
    print(
        f"\nCPU µs per delivery, each part alone ({args.events:,} events → 1 endpoint, "
        f"{args.concurrency} requests in flight)\n"
    )
    print(f"{'limit client (aiohttp, pre-signed)':42} {client:8.0f}")
    print(f"{'receiver':42} {receiver:8.0f}")
    print(f"{'Deliverer.post (Hubwire signing + aiohttp)':42} {post:8.0f}")
    names = list(dict.fromkeys(k for p in parts.values() for k in p))
    print(f"\n{'':42} " + " ".join(f"{s:>15}" for s in systems))
    for k in names:
        print(f"{k:42} " + " ".join(f"{parts[s][k]:15.0f}" if k in parts[s] else f"{'':>15}" for s in systems))
    print(f"\nlimit: client + receiver = {limit:.0f} µs per delivery")
    for s in systems:
        p = parts[s]
        total = sum(v for k, v in p.items() if k != "worker, POST a no-op")  # that one is part of "worker"
        durable = total - limit
        print(
            f"{s}: producer + worker + receiver + database = {total:.0f} µs per delivery "
            f"({durable:+.0f} µs on the limit's); best share of the limit: {limit / total:.2f}"
        )


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", nargs="*", choices=("hubwire-sqlite", "hubwire-pg"))
    p.add_argument("--events", type=int, default=20000)
    p.add_argument(
        "--concurrency", type=int, default=128, help="requests in flight: the worker's, the limit's, the POST's"
    )
    asyncio.run(main(p.parse_args()))
