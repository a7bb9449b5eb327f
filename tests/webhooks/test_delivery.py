"""Delivery to real loopback receivers, on SQLite and PostgreSQL: payload, signature, log, outcomes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import standardwebhooks

from hubwire import Integration, ValidationError, Worker
from hubwire.connectors.registry import ProviderRegistry
from hubwire.hub import Hub
from hubwire.jobs import list_jobs
from hubwire.store.tables import events, jobs
from hubwire.webhooks import list_attempts, list_deliveries
from hubwire.webhooks.fanout import MAX_PAYLOAD
from tests.fakes import FakeClock, deal_noun
from tests.webhooks.conftest import Receiver, body_of


async def drain(hub: Hub) -> None:
    await Worker(hub, concurrency=16).drain()


async def connect(receiver: Receiver, path: str = "/ok", events: list[str] | None = None, **kw: Any) -> dict[str, Any]:
    return dict(await Integration.connect(provider="webhook", url=receiver.url(path), events=events or ["*"], **kw))


async def test_connect_generates_a_secret_shown_once_and_delivers_signed_events(whub: Hub, receiver: Receiver) -> None:
    ep = await connect(receiver, events=["Deal.Closed", "Deal.Created"], headers={"X-Team": "billing"})
    secret = ep.pop("secret")
    assert secret.startswith("whsec_") and ep["status"] == "Connected" and ep["provider"] == "webhook"
    listed = await Integration.get(ep["$id"])
    assert "secret" not in json.dumps(listed) and secret not in json.dumps(listed)
    Deal = deal_noun()
    deal = await Deal.create(name="Acme", value=500, stage="Open")
    await Deal.update(deal.id, value=600)  # Deal.Updated: not subscribed
    await Deal.close(deal.id)
    await drain(whub)
    got = sorted(receiver.on("/ok"), key=lambda r: body_of(r)["seq"])  # delivered concurrently, in any order
    assert [body_of(r)["event"] for r in got] == ["Deal.Created", "Deal.Closed"]
    async with whub.read() as conn:
        seqs = dict((await conn.execute(sa.select(events.c.type, events.c.seq))).all())
    for r in got:
        payload = standardwebhooks.Webhook(secret).verify(r.body, r.headers)
        assert payload["data"]["$id"] == deal.id and payload["seq"] == seqs[payload["event"]]
        assert payload["timestamp"].endswith("Z") and r.headers["X-Team"] == "billing"
        assert r.headers["Content-Type"] == "application/json"
    deliveries = await list_deliveries(whub, endpoint_id=ep["$id"])
    assert {d.status for d in deliveries} == {"succeeded"} and len(deliveries) == 2
    assert {d.id for d in deliveries} == {r.headers["webhook-id"] for r in got}
    attempts = await list_attempts(whub, deliveries[0].id)
    assert len(attempts) == 1 and attempts[0].status_code == 200 and attempts[0].response_body == "ok"
    assert attempts[0].latency_ms is not None and attempts[0].latency_ms > 0


async def test_event_filters_and_no_events_about_the_endpoint_itself(whub: Hub, receiver: Receiver) -> None:
    star = await connect(receiver, "/star", ["*"])
    deals = await connect(receiver, "/deals", ["Deal.*"], headers={"Authorization": "Token abc123456789"})
    exact = await connect(receiver, "/exact", ["Deal.Closed"])
    Deal = deal_noun()
    d = await Deal.create(name="A", stage="Open")
    await Deal.close(d.id)
    await Integration.fail(exact["$id"], "something broke")  # an Integration event about /exact
    await drain(whub)
    assert [body_of(r)["event"] for r in receiver.on("/exact")] == ["Deal.Closed"]
    assert sorted(body_of(r)["event"] for r in receiver.on("/deals")) == ["Deal.Closed", "Deal.Created"]
    star_events = [(body_of(r)["event"], body_of(r)["data"]["$id"]) for r in receiver.on("/star")]
    # /star hears the later endpoints being connected and /exact failing, never about itself
    assert all(eid != star["$id"] for _, eid in star_events)
    assert ("Integration.Connected", deals["$id"]) in star_events
    assert ("Integration.Errored", exact["$id"]) in star_events
    assert ("Deal.Closed", d.id) in star_events
    told = [body_of(r)["data"] for r in receiver.on("/star") if body_of(r)["data"]["$id"] == deals["$id"]]
    # custom headers are credentials: in no event, no listing, only on the wire to their endpoint
    assert told and all("headers" not in t["config"] for t in told)
    assert all("abc123456789" not in r.body.decode() for r in receiver.on("/star"))
    assert "abc123456789" not in repr(await Integration.get(deals["$id"]))
    assert [r.headers["Authorization"] for r in receiver.on("/deals")] == ["Token abc123456789"] * 2


async def test_connect_validates_url_events_and_the_ssrf_guard(
    db_url: str, tmp_path: Path, providers: ProviderRegistry, receiver: Receiver
) -> None:
    from tests.conftest import make_hub

    async with make_hub(db_url, tmp_path, providers):
        with pytest.raises(ValidationError) as exc:
            await Integration.connect(provider="webhook", url=receiver.url("/ok"), events=["*"])
        assert (
            exc.value.status == 422 and exc.value.errors[0].code == "ssrf_blocked" and "loopback" in exc.value.message
        )
        with pytest.raises(ValidationError) as exc:
            await Integration.connect(provider="webhook", url="http://localhost:1/x", events=["*"])
        assert exc.value.errors[0].code == "ssrf_blocked"
        assert await Integration.find({"provider": "webhook"}) == []  # a refused endpoint is not made
        for bad in (
            {"url": "ftp://example.com", "events": ["*"]},
            {"url": "https://example.com", "events": []},
            {"url": "https://example.com", "events": ["De*l"]},
            {"url": "https://example.com", "events": ["*"], "secret": "plaintext"},
            {"url": "https://example.com", "events": ["*"], "headers": {"webhook-id": "x"}},
            {"url": "https://example.com", "events": ["*"], "max_attempts": 0},
        ):
            with pytest.raises(ValidationError):
                await Integration.connect(provider="webhook", **bad)


async def test_server_error_retries_on_the_schedule_then_dead_letters_and_replays(
    whub: Hub, receiver: Receiver, clock: FakeClock
) -> None:
    ep = await connect(receiver, "/fail", ["Deal.*"], max_attempts=4)
    Deal = deal_noun()
    await Deal.create(name="A")
    await drain(whub)
    assert len(receiver.on("/fail")) == 1
    expected = [5.0, 300.0, 1800.0]
    for i, wait in enumerate(expected):
        (d,) = await list_deliveries(whub, endpoint_id=ep["$id"])
        assert d.status == "failed" and d.last_status_code == 500
        delay = d.next_attempt_at - clock.now  # type: ignore[operator]
        assert wait * 0.8 <= delay <= wait * 1.2
        clock.advance(delay - 0.5)
        await drain(whub)
        assert len(receiver.on("/fail")) == i + 1, "no attempt before its time"
        clock.advance(1.0)
        await drain(whub)
        assert len(receiver.on("/fail")) == i + 2
    (d,) = await list_deliveries(whub, endpoint_id=ep["$id"])
    assert d.status == "dead" and d.attempts == 4
    attempts = await list_attempts(whub, d.id)
    assert [a.attempt for a in attempts] == [1, 2, 3, 4] and all(a.status_code == 500 for a in attempts)
    assert attempts[0].response_body == "internal error at the receiver"
    assert len({r.headers["webhook-id"] for r in receiver.on("/fail")}) == 1
    from hubwire.webhooks import retry_dead

    assert await retry_dead(whub) == 1
    await drain(whub)
    assert len(receiver.on("/fail")) == 5 and receiver.on("/fail")[-1].headers["webhook-id"] == d.id
    assert [a.attempt for a in await list_attempts(whub, d.id)] == [1, 2, 3, 4, 5]


async def test_410_disables_the_endpoint_at_once(whub: Hub, receiver: Receiver) -> None:
    ep = await connect(receiver, "/gone", ["Deal.*"])
    Deal = deal_noun()
    await Deal.create(name="A")
    await drain(whub)
    got = await Integration.get(ep["$id"])
    assert got["status"] == "Disconnected" and "410" in got["error"]
    async with whub.read() as conn:
        types = list((await conn.execute(sa.select(events.c.type).where(events.c.entity_id == ep["$id"]))).scalars())
    assert "Integration.Errored" in types
    (d,) = await list_deliveries(whub, endpoint_id=ep["$id"])
    assert d.status == "dead" and d.last_status_code == 410
    await Deal.create(name="B")
    await drain(whub)
    assert len(receiver.on("/gone")) == 1


@pytest.mark.parametrize(("path", "wait"), [("/busy", 7.0), ("/unavailable", 2.0)])
async def test_retry_after_is_honoured(whub: Hub, receiver: Receiver, clock: FakeClock, path: str, wait: float) -> None:
    ep = await connect(receiver, path, ["Deal.*"])
    await deal_noun().create(name="A")
    await drain(whub)
    (d,) = await list_deliveries(whub, endpoint_id=ep["$id"])
    # abs: the default relative tolerance of 1e-6 is half an hour on a Unix time
    assert d.status == "failed" and d.next_attempt_at == pytest.approx(clock.now + wait, abs=0.01)


async def test_retry_after_as_an_http_date_is_honoured(whub: Hub, receiver: Receiver, clock: FakeClock) -> None:
    clock.advance(7 * 86400.0)  # the hub's clock, not the machine's, says what "now" is
    until = int(clock.now) + 120
    ep = await connect(receiver, f"/busy-until/{until}", ["Deal.*"])
    await deal_noun().create(name="A")
    await drain(whub)
    (d,) = await list_deliveries(whub, endpoint_id=ep["$id"])
    assert d.status == "failed" and d.next_attempt_at == pytest.approx(until, abs=0.01)


async def test_a_retry_after_that_is_neither_seconds_nor_a_date_leaves_the_endpoints_schedule(
    whub: Hub, receiver: Receiver, clock: FakeClock
) -> None:
    ep = await connect(receiver, "/busy-saying/soon", ["Deal.*"], schedule=[40.0, 80.0])
    await deal_noun().create(name="A")
    await drain(whub)
    (d,) = await list_deliveries(whub, endpoint_id=ep["$id"])
    assert d.status == "failed" and d.next_attempt_at is not None
    assert 40.0 * 0.8 <= d.next_attempt_at - clock.now <= 40.0 * 1.2


@pytest.mark.parametrize(
    ("gone", "reason"),
    [("disconnect", "endpoint is Disconnected"), ("delete", "endpoint no longer exists")],
)
async def test_a_delivery_whose_endpoint_went_away_meanwhile_is_dead_and_not_sent(
    whub: Hub, receiver: Receiver, gone: str, reason: str
) -> None:
    ep = await connect(receiver, "/ok", ["Deal.*"])
    await deal_noun().create(name="A")  # its delivery is queued ...
    await getattr(Integration, gone)(ep["$id"])  # ... and its endpoint goes before a worker takes it
    await drain(whub)
    assert receiver.requests == []
    (d,) = await list_deliveries(whub)
    assert (d.status, d.last_error) == ("dead", reason)
    assert [(j.status, j.last_error) for j in await list_jobs(whub)] == [("dead", reason)]  # not retried


@pytest.mark.parametrize(
    ("backoff", "waits"),
    [
        ({"type": "exponential", "base": 10, "factor": 3, "max": 100}, [10, 30, 90, 100, 100]),
        ({"type": "linear", "base": 10, "max": 35}, [10, 20, 30, 35, 35]),
        ({"base": 4}, [4, 8, 16, 32, 64]),  # exponential by default, doubling by default
    ],
    ids=["exponential", "linear", "defaults"],
)
async def test_an_endpoints_backoff_spaces_its_retries(
    whub: Hub, receiver: Receiver, clock: FakeClock, backoff: dict[str, Any], waits: list[float]
) -> None:
    ep = await connect(receiver, "/fail", ["Deal.*"], backoff=backoff, max_attempts=len(waits) + 1)
    await deal_noun().create(name="A")
    for n, wait in enumerate(waits, start=1):
        await drain(whub)
        (d,) = await list_deliveries(whub, endpoint_id=ep["$id"])
        assert (d.status, d.attempts) == ("failed", n)
        assert d.next_attempt_at is not None
        assert wait * 0.8 <= d.next_attempt_at - clock.now <= wait * 1.2  # within the 20 % jitter
        clock.advance(d.next_attempt_at - clock.now)
    await drain(whub)
    (d,) = await list_deliveries(whub, endpoint_id=ep["$id"])
    assert (d.status, d.attempts, len(receiver.on("/fail"))) == ("dead", len(waits) + 1, len(waits) + 1)


@pytest.mark.parametrize(
    "backoff",
    [{"type": "linear", "base": "soon"}, {"factor": "x"}, {"max": "never"}, {"base": -5}, {"factor": 0.5}],
    ids=["base-string", "factor-string", "max-string", "base-negative", "factor-below-1"],
)
async def test_a_backoff_whose_numbers_are_not_waits_is_refused(
    whub: Hub, receiver: Receiver, backoff: dict[str, Any]
) -> None:
    with pytest.raises(ValidationError) as err:
        await connect(receiver, "/ok", ["Deal.*"], backoff=backoff)
    assert err.value.errors[0].field == f"backoff.{next(k for k in backoff if k != 'type')}"


@pytest.mark.parametrize(
    ("path", "error"),
    [("/hang", "timeout after 0.3s"), ("/close", "ServerDisconnected"), ("/redirect", "HTTP 302")],
)
async def test_failures_without_a_2xx(whub: Hub, receiver: Receiver, path: str, error: str) -> None:
    ep = await connect(receiver, path, ["Deal.*"], timeout=0.3)
    await deal_noun().create(name="A")
    await drain(whub)
    (d,) = await list_deliveries(whub, endpoint_id=ep["$id"])
    assert d.status == "failed" and error in (d.last_error or "")
    assert receiver.on("/ok") == []  # the redirect was not followed


async def test_refused_connection_is_a_failed_attempt(whub: Hub, refused_url: str) -> None:
    ep = await Integration.connect(provider="webhook", url=refused_url, events=["*"])
    await deal_noun().create(name="A")
    await drain(whub)
    (d,) = await list_deliveries(whub, endpoint_id=ep.id)
    assert d.status == "failed" and "cannot connect" in (d.last_error or "")
    (a,) = await list_attempts(whub, d.id)
    assert a.status_code is None and a.error == d.last_error


async def test_an_endpoint_failing_past_its_window_is_disabled(whub: Hub, receiver: Receiver, clock: FakeClock) -> None:
    ep = await connect(receiver, "/fail", ["Deal.*"], schedule=[60.0], max_attempts=50, disable_after=1800)
    await deal_noun().create(name="A")
    await drain(whub)
    for _ in range(70):
        clock.advance(72.0)
        await drain(whub)
        if (await Integration.get(ep["$id"]))["status"] == "Disconnected":
            break
    got = await Integration.get(ep["$id"])
    assert got["status"] == "Disconnected" and "without a success" in got["error"]
    n = len(receiver.on("/fail"))
    assert 1800 / 72 <= n <= 1800 / 48 + 2
    (d,) = await list_deliveries(whub, endpoint_id=ep["$id"])
    assert d.status == "dead"


async def test_oversized_payload_is_dead_with_a_clear_error(whub: Hub, receiver: Receiver) -> None:
    ep = await connect(receiver, "/ok", ["Deal.*"])
    await deal_noun().create(name="x" * (MAX_PAYLOAD + 10))
    await drain(whub)
    (d,) = await list_deliveries(whub, endpoint_id=ep["$id"])
    assert d.status == "dead" and (d.last_error or "").startswith("payload_too_large")
    assert receiver.requests == []
    async with whub.read() as conn:
        assert (await conn.execute(sa.select(sa.func.count()).select_from(jobs))).scalar_one() == 0


async def test_response_body_is_kept_to_4_kb(whub: Hub, receiver: Receiver) -> None:
    ep = await connect(receiver, "/big", ["Deal.*"])
    await deal_noun().create(name="A")
    await drain(whub)
    (d,) = await list_deliveries(whub, endpoint_id=ep["$id"])
    (a,) = await list_attempts(whub, d.id)
    assert d.status == "succeeded" and a.response_body == "x" * 4096
