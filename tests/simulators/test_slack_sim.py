"""The Slack simulator driven by the official ``slack_sdk``: incoming webhooks, the Web API, Slack's
``ok: false`` errors, rate limits with ``Retry-After`` (and slack_sdk's retry handler on them), faults
and the distinctive 400 for calls that break Slack's description."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook import WebhookClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from hubwire.simulators.slack import DEFAULT_TOKEN, MISMATCH, SlackSimulator
from tests.simulators.messaging_fixtures import checked_slack, require_spec

SPEC = "slack/slack_web_openapi_v2.json"
BLOCKS = [{"type": "section", "text": {"type": "mrkdwn", "text": "*New order* #1001"}}]


def client(sim: SlackSimulator, token: str = DEFAULT_TOKEN, **options: object) -> AsyncWebClient:
    return AsyncWebClient(token=token, base_url=sim.api_url, **options)  # type: ignore[arg-type]


async def test_incoming_webhook_through_slack_sdk() -> None:
    require_spec(SPEC)
    async with checked_slack() as sim:
        url = sim.add_webhook("#general")
        # The blocking client, as a user's script would call it (off the loop serving the simulator).
        resp = await asyncio.to_thread(WebhookClient(url).send, text="New order", blocks=BLOCKS)
        assert (resp.status_code, resp.body) == (200, "ok")
        resp = await AsyncWebhookClient(url).send(text="second")
        assert (resp.status_code, resp.body) == (200, "ok")
        assert [m["text"] for m in sim.messages("general")] == ["New order", "second"]
        assert sim.messages("general")[0]["blocks"] == BLOCKS


async def test_incoming_webhook_errors_are_slacks_plain_text() -> None:
    async with checked_slack() as sim:
        url = sim.add_webhook("random")
        hook = AsyncWebhookClient(url)
        resp = await hook.send_dict({"unfurl_links": False})
        assert (resp.status_code, resp.body) == (400, "no_text")
        resp = await AsyncWebhookClient(url.rsplit("/", 1)[0] + "/wrongsecret").send(text="x")
        assert (resp.status_code, resp.body) == (403, "invalid_token")
        async with aiohttp.ClientSession() as http:
            async with http.post(url, data=b"{not json", headers={"Content-Type": "application/json"}) as r:
                assert (r.status, await r.text()) == (400, "invalid_payload")
            # Slack also takes the message as a payload= form field.
            async with http.post(url, data={"payload": json.dumps({"text": "from a form"})}) as r:
                assert (r.status, await r.text()) == (200, "ok")
        sim.find_channel("random").is_archived = True  # type: ignore[union-attr]
        resp = await hook.send(text="too late")
        assert (resp.status_code, resp.body) == (410, "channel_is_archived")
        del sim.channels[sim.find_channel("random").id]  # type: ignore[union-attr]
        resp = await hook.send(text="gone")
        assert (resp.status_code, resp.body) == (404, "channel_not_found")
        assert [m["text"] for m in sim.messages("general")] == []


async def test_web_api_post_update_and_list_through_slack_sdk() -> None:
    require_spec(SPEC)
    async with checked_slack() as sim:
        for n in range(3):
            sim.add_channel(f"team-{n}")
        sim.add_channel("secret", is_private=True)
        sim.add_channel("old", is_archived=True)
        web = client(sim)
        auth = await web.auth_test()
        assert auth["ok"] and auth["team_id"].startswith("T") and auth["user_id"]
        posted = await web.chat_postMessage(channel="#general", text="New order", blocks=BLOCKS)
        general = sim.find_channel("general")
        assert general is not None
        assert posted["channel"] == general.id and posted["ts"] and posted["message"]["text"] == "New order"
        updated = await web.chat_update(channel=posted["channel"], ts=posted["ts"], text="Order paid")
        assert updated["ts"] == posted["ts"] and updated["text"] == "Order paid"
        assert [m["text"] for m in sim.messages("general")] == ["Order paid"]
        assert sim.messages("general")[0]["blocks"] == BLOCKS
        names: list[str] = []
        pages = 0
        async for page in await web.conversations_list(limit=2, exclude_archived=True):
            pages += 1
            names += [c["name"] for c in page["channels"]]
        assert names == ["general", "random", "team-0", "team-1", "team-2"] and pages == 3
        private = await web.conversations_list(types="private_channel")
        assert [c["name"] for c in private["channels"]] == ["secret"]
        # A form-encoded call with the token as a parameter, blocks as a JSON string.
        form = await AsyncWebClient(base_url=sim.api_url).api_call(
            "chat.postMessage",
            data={"token": DEFAULT_TOKEN, "channel": "random", "text": "form", "blocks": json.dumps(BLOCKS)},
        )
        assert form["ok"] and sim.messages("random")[0]["blocks"] == BLOCKS


async def test_web_api_errors_are_ok_false_with_http_200() -> None:
    async with checked_slack() as sim:
        with pytest.raises(SlackApiError) as err:
            await client(sim, "xoxb-not-a-known-token").auth_test()
        assert err.value.response.status_code == 200 and err.value.response["error"] == "invalid_auth"
        with pytest.raises(SlackApiError) as err:
            await client(sim).chat_postMessage(channel="#nowhere", text="x")
        assert err.value.response.status_code == 200 and err.value.response["error"] == "channel_not_found"
        with pytest.raises(SlackApiError) as err, pytest.warns(UserWarning, match="`text` argument is missing"):
            await client(sim).chat_postMessage(channel="#general")
        assert err.value.response["error"] == "no_text"
        with pytest.raises(SlackApiError) as err:
            await client(sim).chat_update(channel="#general", ts="1.000001", text="x")
        assert err.value.response["error"] == "message_not_found"
        with pytest.raises(SlackApiError) as err:
            await client(sim).conversations_list(cursor="not-a-cursor")
        assert err.value.response["error"] == "invalid_cursor"
        assert sim.messages("general") == []


async def test_rate_limit_tier_answers_429_with_retry_after_and_slack_sdk_retries() -> None:
    async with checked_slack(rate_limits=True) as sim:
        web = client(sim)
        await web.chat_postMessage(channel="#general", text="one")
        await web.chat_postMessage(channel="#random", text="another channel, its own limit")
        with pytest.raises(SlackApiError) as err:
            await web.chat_postMessage(channel="#general", text="two")
        assert err.value.response.status_code == 429 and err.value.response["error"] == "ratelimited"
        assert err.value.response.headers["Retry-After"] == "1"
        patient = client(sim, retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=2)])
        start = time.monotonic()
        resp = await patient.chat_postMessage(channel="#general", text="two")
        assert resp["ok"] and time.monotonic() - start >= 1.0
        assert [m["text"] for m in sim.messages("general")] == ["one", "two"]


async def test_faults_5xx_429_and_slow_answers() -> None:
    async with checked_slack() as sim:
        sim.fail_next(1, status=429, retry_after=1)
        web = client(sim, retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=1)])
        assert (await web.auth_test())["ok"]
        assert [r.status for r in sim.requests_to("/api/auth.test")] == [429, 200]
        url = sim.add_webhook()
        sim.fail_next(1, status=503)
        resp = await AsyncWebhookClient(url).send(text="x")
        assert resp.status_code == 503 and sim.messages("general") == []
        sim.slow_next(1, delay=0.3)
        start = time.monotonic()
        resp = await AsyncWebhookClient(url).send(text="late")
        assert resp.body == "ok" and time.monotonic() - start >= 0.3


async def test_calls_breaking_the_description_get_the_distinctive_400() -> None:
    require_spec(SPEC)
    async with checked_slack() as sim:
        web = client(sim)
        with pytest.raises(SlackApiError) as err:
            await web.api_call("chat.postMessage", json={"text": "no channel"})
        assert err.value.response.status_code == 400 and err.value.response["error"] == MISMATCH
        assert "required parameter 'channel'" in err.value.response["mismatches"][0]
        with pytest.raises(SlackApiError) as err:
            await web.api_call("chat.postMessage", json={"channel": "#general", "text": "x", "colour": "red"})
        assert "'colour' is not declared" in err.value.response["mismatches"][0]
        with pytest.raises(SlackApiError) as err:
            await web.api_call("conversations.list", http_verb="GET", params={"limit": "ten"})
        assert "expected an integer" in err.value.response["mismatches"][0]
        resp = await AsyncWebhookClient(sim.add_webhook()).send_dict({"txt": "typo"})
        assert resp.status_code == 400 and resp.body.startswith(MISMATCH) and "'txt'" in resp.body
        assert len(sim.mismatches) == 4 and sim.messages("general") == []
        sim.mismatches.clear()
