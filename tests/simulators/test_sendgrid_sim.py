"""The SendGrid simulator driven by the official ``sendgrid`` client: mail send (202 + X-Message-Id,
sandbox mode), SendGrid's error bodies (400, 401, 413, 429 with Retry-After), faults, and the
distinctive 400 for requests that break SendGrid's OpenAPI description."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
import pytest
from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import Mail

from hubwire.simulators.sendgrid import DEFAULT_API_KEY, MISMATCH, SendGridSimulator
from tests.simulators.messaging_fixtures import checked_sendgrid, require_spec

SPEC = "sendgrid/tsg_mail_v3.json"


def mail(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = Mail(
        from_email="shop@example.com",
        to_emails="ada@example.com",
        subject="Your order",
        html_content="<p>Thanks!</p>",
    ).get()
    return {**body, **overrides}


async def send(sim: SendGridSimulator, body: dict[str, Any] | Mail, key: str = DEFAULT_API_KEY) -> Any:
    """Send through the official client (blocking: off the loop that serves the simulator)."""
    client = SendGridAPIClient(api_key=key, host=sim.url)
    return await asyncio.to_thread(client.send, body)


async def failure(sim: SendGridSimulator, body: dict[str, Any], key: str = DEFAULT_API_KEY) -> HTTPError:
    with pytest.raises(HTTPError) as err:
        await send(sim, body, key)
    return err.value


async def test_mail_send_through_the_sendgrid_client() -> None:
    require_spec(SPEC)
    async with checked_sendgrid() as sim:
        message = Mail(
            from_email="shop@example.com",
            to_emails=["ada@example.com", "grace@example.com"],
            subject="Your order",
            html_content="<p>Thanks!</p>",
            plain_text_content="Thanks!",
        )
        resp = await send(sim, message)
        assert resp.status_code == 202 and resp.body == b""
        message_id = resp.headers["X-Message-Id"]
        assert message_id and [m.message_id for m in sim.mails] == [message_id]
        sent = sim.mails[0].body
        assert sent["subject"] == "Your order" and sent["from"] == {"email": "shop@example.com"}
        assert [c["type"] for c in sent["content"]] == ["text/plain", "text/html"]
        sandboxed = await send(sim, mail(mail_settings={"sandbox_mode": {"enable": True}}))
        assert sandboxed.status_code == 200 and len(sim.mails) == 1


async def test_bad_or_missing_key_is_401_with_sendgrids_errors() -> None:
    async with checked_sendgrid() as sim:
        err = await failure(sim, mail(), key="SG.wrong.key")
        assert err.status_code == 401
        assert json.loads(err.body)["errors"][0]["message"].startswith("The provided authorization grant is invalid")
        async with aiohttp.ClientSession() as http, http.post(f"{sim.url}/v3/mail/send", json=mail()) as r:
            assert r.status == 401
            assert (await r.json())["errors"] == [{"message": "authorization required", "field": None, "help": None}]
        assert sim.mails == []


async def test_sendgrids_own_400s_for_what_the_description_cannot_say() -> None:
    require_spec(SPEC)
    async with checked_sendgrid() as sim:
        no_subject = mail()
        del no_subject["subject"]
        err = await failure(sim, no_subject)
        assert err.status_code == 400
        (error,) = json.loads(err.body)["errors"]
        assert error["field"] == "subject" and error["help"].endswith("#message.subject")
        twice = mail(personalizations=[{"to": [{"email": "ada@example.com"}], "cc": [{"email": "ADA@example.com"}]}])
        err = await failure(sim, twice)
        (error,) = json.loads(err.body)["errors"]
        assert error["field"] == "personalizations.0.cc" and "[ada@example.com]" in error["message"]
        templated = mail(template_id="d-0123456789abcdef")
        del templated["subject"], templated["content"]
        assert (await send(sim, templated)).status_code == 202
        assert len(sim.mails) == 1 and sim.mismatches == []


async def test_too_large_is_413_and_faults_are_sendgrid_shaped() -> None:
    async with checked_sendgrid(max_bytes=2_000) as sim:
        err = await failure(sim, mail(content=[{"type": "text/html", "value": "x" * 3_000}]))
        assert err.status_code == 413 and json.loads(err.body)["errors"][0]["message"] == "content too large"
        sim.fail_next(1, status=429, retry_after=2)
        err = await failure(sim, mail())
        assert err.status_code == 429 and err.headers["Retry-After"] == "2"
        assert int(err.headers["X-RateLimit-Reset"]) >= int(time.time())
        assert json.loads(err.body)["errors"][0]["message"] == "too many requests"
        sim.fail_next(2, status=503)
        assert [(await failure(sim, mail())).status_code for _ in range(2)] == [503, 503]
        sim.slow_next(1, delay=0.3)
        start = time.monotonic()
        assert (await send(sim, mail())).status_code == 202
        assert time.monotonic() - start >= 0.3
        assert [r.status for r in sim.requests] == [413, 429, 503, 503, 202] and len(sim.mails) == 1


async def test_requests_breaking_the_description_get_the_distinctive_400() -> None:
    require_spec(SPEC)
    async with checked_sendgrid() as sim:
        no_from = mail()
        del no_from["from"]
        for body, expected in [
            (mail(subjekt="typo"), "'subjekt' is not declared"),
            (no_from, "'from' is a required property"),
            (mail(personalizations=[{"to": [{"email": "not-an-address"}]}]), "is not a 'email'"),
        ]:
            err = await failure(sim, body)
            assert err.status_code == 400
            answer = json.loads(err.body)
            assert answer["errors"][0]["message"].startswith(MISMATCH) and expected in answer["mismatches"][0]
        assert len(sim.mismatches) == 3 and sim.mails == []
        sim.mismatches.clear()
