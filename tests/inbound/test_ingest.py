"""POST /v1/hooks/{integration_id} over real HTTP on loopback: verified, stored once, answered, counted."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
import sqlalchemy as sa
import stripe
from twilio.request_validator import RequestValidator

import hubwire
from hubwire import Entity, Integration, Worker, inbound
from hubwire.api.app import create_app
from hubwire.connectors.registry import ProviderRegistry
from hubwire.hub import Hub
from hubwire.inbound.ingest import Targets
from hubwire.store.tables import inbound_hooks, jobs
from tests.api.conftest import serve
from tests.conftest import make_hub
from tests.fakes import GOOD_KEY, ApiKeyProvider
from tests.inbound.conftest import HOOK_SECRET, PUBLIC_URL, HookyProvider, github_signed

PROBLEM = "application/problem+json"


async def count_rows(hub: Hub) -> tuple[int, int]:
    """(inbox rows, apply jobs) as the tables hold them (one live apply job per Integration)."""
    async with hub.read() as conn:
        hooks = (await conn.execute(sa.select(sa.func.count()).select_from(inbound_hooks))).scalar_one()
        applies = (
            await conn.execute(sa.select(sa.func.count()).select_from(jobs).where(jobs.c.kind == inbound.APPLY_JOB))
        ).scalar_one()
    return int(hooks), int(applies)


async def test_a_signed_webhook_is_stored_once_answered_and_applied_as_the_provider(
    ihub: Hub, served: httpx.AsyncClient, connected: Entity, ticket: hubwire.Noun
) -> None:
    body, headers = github_signed({"action": "opened", "title": "Printer on fire"}, "d-1")
    first = await served.post(f"/v1/hooks/{connected.id}", content=body, headers=headers)
    assert first.status_code == 200, first.text
    assert first.json()["duplicate"] is False and first.json()["id"].startswith("hook_")
    assert await count_rows(ihub) == (1, 1)

    # GitHub redelivers: the same X-GitHub-Delivery is acknowledged without a second row or job.
    again = await served.post(f"/v1/hooks/{connected.id}", content=body, headers=headers)
    assert again.status_code == 200 and again.json() == {"id": first.json()["id"], "duplicate": True}
    assert await count_rows(ihub) == (1, 1)

    row = await inbound.get_received(ihub, first.json()["id"])
    assert (row.status, row.event_id, row.event_type, row.provider) == ("received", "d-1", "issues.opened", "hooky")
    assert row.body == body  # raw, exactly as signed
    assert "x-hub-signature-256" not in row.headers and row.headers["x-github-event"] == "issues"
    assert all(name == name.lower() for name in row.headers)

    assert await Worker(ihub).drain() == 1
    [made] = await ticket.find({})
    assert (made.title, made.ref) == ("Printer on fire", "d-1")
    async with ihub.read() as conn:
        source = (await conn.execute(sa.text("SELECT source FROM events WHERE type = 'Ticket.Created'"))).scalar_one()
    assert source == "hooky"  # the provider is the source: hooks and outbound webhooks see it as such
    applied = await inbound.get_received(ihub, row.id)
    assert applied.status == "applied" and applied.attempts == 1 and applied.applied_at is not None
    assert await count_rows(ihub) == (1, 0)  # the done job is forgotten: the row is the history
    assert {(r["outcome"], r["count"]) for r in await inbound.stats(ihub, connected.id)} == {
        ("received", 1),
        ("duplicate", 1),
    }


async def test_webhooks_without_an_event_id_are_never_duplicates(
    ihub: Hub, served: httpx.AsyncClient, connected: Entity
) -> None:
    body, headers = github_signed({"action": "opened", "title": "x"}, None)
    for _ in range(2):
        r = await served.post(f"/v1/hooks/{connected.id}", content=body, headers=headers)
        assert r.status_code == 200 and r.json()["duplicate"] is False
    assert await count_rows(ihub) == (2, 1)  # two rows; one job applies all of an Integration's waiting rows


@pytest.mark.parametrize(
    ("mangle", "code"),
    [
        (lambda h: {**h, "X-Hub-Signature-256": "sha256=" + "0" * 64}, "bad_signature"),
        (lambda h: {k: v for k, v in h.items() if k != "X-Hub-Signature-256"}, "missing_signature"),
        (lambda h: {**h, "X-Hub-Signature-256": "md5=abc"}, "malformed_header"),
    ],
)
async def test_a_request_failing_verification_is_refused_counted_and_not_stored(
    ihub: Hub, served: httpx.AsyncClient, connected: Entity, mangle: object, code: str
) -> None:
    body, headers = github_signed({"action": "opened", "title": "x"}, "d-bad")
    r = await served.post(f"/v1/hooks/{connected.id}", content=body, headers=mangle(headers))  # type: ignore[operator]
    assert r.status_code == 401 and r.headers["content-type"] == PROBLEM
    assert r.json()["code"] == code and HOOK_SECRET not in r.text
    assert await count_rows(ihub) == (0, 0)
    assert await inbound.stats(ihub, connected.id) == [{"integration_id": connected.id, "outcome": code, "count": 1}]


async def test_a_rotated_secret_is_still_accepted(ihub: Hub, served: httpx.AsyncClient, hooky: HookyProvider) -> None:
    rotated = await Integration.connect(
        provider="hooky", webhook_secret="new-secret-XyZ12345", previous_webhook_secrets=[HOOK_SECRET]
    )
    for n, secret in enumerate(["new-secret-XyZ12345", HOOK_SECRET]):
        body, headers = github_signed({"action": "opened", "title": "x"}, f"d-{n}", secret=secret)
        assert (await served.post(f"/v1/hooks/{rotated.id}", content=body, headers=headers)).status_code == 200


async def test_no_receiver_is_one_404_whether_the_id_exists_or_not(
    ihub: Hub, served: httpx.AsyncClient, providers: ProviderRegistry, connected: Entity
) -> None:
    providers.register(ApiKeyProvider())  # takes no webhooks
    no_webhooks = await Integration.connect(provider="acme", api_key=GOOD_KEY)
    no_secret = await Integration.connect(provider="hooky", slug="hooky-2")
    gone = await Integration.connect(provider="hooky", slug="hooky-3", webhook_secret=HOOK_SECRET)
    await Integration.disconnect(gone.id)
    body, headers = github_signed({"action": "opened", "title": "x"}, "d-404")
    answers = []
    for target in ("integration_Nope1234", "deal_x", no_webhooks.id, no_secret.id, gone.id):
        r = await served.post(f"/v1/hooks/{target}", content=body, headers=headers)
        assert r.status_code == 404 and r.headers["content-type"] == PROBLEM, (target, r.text)
        answers.append({**r.json(), "detail": r.json()["detail"].replace(target, "ID")})
    assert all(a == answers[0] for a in answers) and answers[0]["code"] == "no_hook_receiver"
    assert await count_rows(ihub) == (0, 0)
    assert await inbound.stats(ihub) == [{"integration_id": None, "outcome": "no_hook_receiver", "count": 5}]


async def test_the_body_limit_is_a_setting(
    db_url: str, tmp_path: Path, providers: ProviderRegistry, hooky: HookyProvider, ticket: hubwire.Noun
) -> None:
    async with make_hub(db_url, tmp_path, providers, inbound_max_body_bytes=2 * 1024 * 1024) as hub:
        integration = await Integration.connect(provider="hooky", webhook_secret=HOOK_SECRET)
        big = {"action": "opened", "title": "x" * (1024 * 1024 + 10)}  # over the API's own 1 MiB
        async with serve(create_app(hub)) as base, httpx.AsyncClient(base_url=base) as c:
            body, headers = github_signed(big, "d-big")
            assert (await c.post(f"/v1/hooks/{integration.id}", content=body, headers=headers)).status_code == 200
            body, headers = github_signed({**big, "title": "x" * (2 * 1024 * 1024)}, "d-huge")
            r = await c.post(f"/v1/hooks/{integration.id}", content=body, headers=headers)
            assert r.status_code == 413 and r.json()["code"] == "payload_too_large"
            # Other routes keep the API's limit.
            r = await c.post("/v1/tickets", content=b"x" * (1024 * 1024 + 1))
            assert r.status_code == 413
        assert await count_rows(hub) == (1, 1)


async def test_stripe_signed_by_the_official_library(
    ihub: Hub, served: httpx.AsyncClient, providers: ProviderRegistry
) -> None:
    class StripeLike(HookyProvider):
        slug, name, webhook_scheme = "stripelike", "Stripe-like", "stripe"

    providers.register(StripeLike())
    secret = "whsec_test_Inbound1234567890"
    integration = await Integration.connect(provider="stripelike", webhook_secret=secret)
    body = json.dumps({"id": "evt_1Abc", "type": "customer.created", "action": "opened", "title": "cus"})
    header = stripe.WebhookSignature.generate_signature_header(body, secret, timestamp=int(ihub.clock()))
    r = await served.post(
        f"/v1/hooks/{integration.id}",
        content=body,
        headers={"Stripe-Signature": header, "Content-Type": "application/json"},
    )
    assert r.status_code == 200, r.text
    assert (await inbound.get_received(ihub, r.json()["id"])).event_id == "evt_1Abc"
    stale = stripe.WebhookSignature.generate_signature_header(body, secret, timestamp=int(ihub.clock()) - 3600)
    r = await served.post(f"/v1/hooks/{integration.id}", content=body, headers={"Stripe-Signature": stale})
    assert r.status_code == 401 and r.json()["code"] == "timestamp_out_of_tolerance"


async def test_twilio_signs_the_public_url(ihub: Hub, served: httpx.AsyncClient, providers: ProviderRegistry) -> None:
    """Behind a proxy the request reaches 127.0.0.1, but Twilio signed HUBWIRE_PUBLIC_URL + path + query."""

    class TwilioLike(HookyProvider):
        slug, name, webhook_scheme = "twiliolike", "Twilio-like", "twilio"

    providers.register(TwilioLike())
    token = "twilio-auth-token-0123456789"
    integration = await Integration.connect(provider="twiliolike", webhook_secret=token)
    params = {"MessageSid": "SM1", "Body": "hello", "action": "opened", "title": "sms"}
    signed_url = f"{PUBLIC_URL}/v1/hooks/{integration.id}?kind=sms"
    signature = RequestValidator(token).compute_signature(signed_url, params)
    headers = {
        "X-Twilio-Signature": signature,
        "Content-Type": "application/x-www-form-urlencoded",
        "I-Twilio-Idempotency-Token": "idem-7",
    }
    r = await served.post(f"/v1/hooks/{integration.id}?kind=sms", content=urlencode(params), headers=headers)
    assert r.status_code == 200, r.text
    row = await inbound.get_received(ihub, r.json()["id"])
    assert row.event_id == "idem-7" and "x-twilio-signature" not in row.headers
    await Worker(ihub).drain()
    assert [t.title for t in await hubwire.Noun.registry["Ticket"].find({})] == ["sms"]


async def test_a_flood_of_bad_signatures_does_not_stop_good_webhooks(
    ihub: Hub, served: httpx.AsyncClient, connected: Entity
) -> None:
    # The cache keeps what it read for the whole test (the default is a few seconds): the counts
    # below then say how often the flood reached the database, whatever the machine's speed.
    targets = ihub.provide(Targets, Targets(ihub, ttl=3600, recheck=3600))
    bad = [github_signed({"action": "opened", "title": f"bad {n}"}, f"b-{n}", secret="guessed") for n in range(200)]
    good = [github_signed({"action": "opened", "title": f"good {n}"}, f"g-{n}") for n in range(40)]
    sends = [(b, h, 401) for b, h in bad] + [(b, h, 200) for b, h in good]
    sends = sends[::2] + sends[1::2]  # interleaved
    limits = asyncio.Semaphore(64)

    async def send(body: bytes, headers: dict[str, str]) -> int:
        async with limits:
            return (await served.post(f"/v1/hooks/{connected.id}", content=body, headers=headers)).status_code

    codes = await asyncio.gather(*(send(b, h) for b, h, _ in sends))
    assert list(codes) == [want for _, _, want in sends]
    assert await count_rows(ihub) == (40, 1)  # one apply job for the Integration's 40 webhooks
    assert targets.loads == 1  # one read of the Integration and its secrets for 240 requests
    assert {(r["outcome"], r["count"]) for r in await inbound.stats(ihub, connected.id)} == {
        ("received", 40),
        ("bad_signature", 200),
    }


async def test_a_secret_rotated_or_an_integration_connected_a_moment_ago_is_not_refused(
    ihub: Hub, served: httpx.AsyncClient, connected: Entity
) -> None:
    """A refusal reads the Integration again (at most once per ``recheck``) before it stands."""
    targets = ihub.provide(Targets, Targets(ihub, ttl=3600, recheck=0))
    body, headers = github_signed({"action": "opened", "title": "x"}, "d-old")
    assert (await served.post(f"/v1/hooks/{connected.id}", content=body, headers=headers)).status_code == 200
    await Integration.connect(connected.id, webhook_secret="rotated-secret-77aa99")  # cached: the old one
    body, headers = github_signed({"action": "opened", "title": "x"}, "d-new", secret="rotated-secret-77aa99")
    assert (await served.post(f"/v1/hooks/{connected.id}", content=body, headers=headers)).status_code == 200
    # The old secret is no longer accepted, and a refusal rereads no more than a recheck allows.
    body, headers = github_signed({"action": "opened", "title": "x"}, "d-stale")
    assert (await served.post(f"/v1/hooks/{connected.id}", content=body, headers=headers)).status_code == 401

    await Integration.disconnect(connected.id)
    targets.forget(connected.id)  # as if this process had never seen it connected
    assert (await served.post(f"/v1/hooks/{connected.id}", content=body, headers=headers)).status_code == 404
    await Integration.connect(connected.id, webhook_secret=HOOK_SECRET)  # back: the cached "no receiver" is reread
    assert (await served.post(f"/v1/hooks/{connected.id}", content=body, headers=headers)).status_code == 200
    assert targets.loads >= 4
