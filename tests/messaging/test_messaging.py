"""Messaging providers against their simulators on loopback, on SQLite and PostgreSQL: sends through
each provider, retries on 429/5xx, Slack's ok:false, routing events with sandboxed templates, Twilio
status callbacks. Every simulator checks each request against the provider's description."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlencode

import pytest

from hubwire import Integration, ProviderAuthError, ValidationError
from hubwire.connectors.messaging import EmailMessage, Message
from hubwire.connectors.registry import ProviderContext
from hubwire.hub import Hub
from hubwire.inbound import verifier_for
from hubwire.inbound.received import ReceivedHook, webhook_secrets
from hubwire.inbound.verifiers import SignatureError, WebhookRequest
from hubwire.jobs import list_jobs
from hubwire.simulators.sendgrid import DEFAULT_API_KEY
from hubwire.simulators.slack.server import DEFAULT_TOKEN
from hubwire.simulators.twilio import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, DEFAULT_FROM
from hubwire.vault.credentials import load_credentials
from hubwire.webhooks import list_attempts, list_deliveries, resend
from tests.fakes import FakeClock, deal_noun
from tests.messaging.conftest import drain
from tests.simulators.messaging_fixtures import checked_sendgrid, checked_slack, checked_teams, checked_twilio

SECTION = {"type": "section", "text": {"type": "mrkdwn", "text": "*Order* #1042 paid"}}


async def test_slack_incoming_webhook_sends_a_message_recorded_in_the_delivery_log(mhub: Hub) -> None:
    async with checked_slack() as sim:
        sim.add_channel("orders")
        slack = await Integration.connect(provider="slack", webhook=sim.add_webhook("#orders"))
        assert slack["status"] == "Connected" and slack["slug"] == "slack"
        queued = await Message.send(via="slack", text="New order", blocks=[SECTION])
        assert queued["status"] == "Queued" and queued["integration"] == slack.id
        await drain(mhub)
        [posted] = sim.messages("orders")
        assert posted["text"] == "New order" and posted["blocks"] == [SECTION]
        sent = await Message.get(queued.id)
        assert sent["status"] == "Sent" and sent["error"] is None
        [delivery] = await list_deliveries(mhub, endpoint_id=slack.id)
        assert delivery.status == "succeeded" and delivery.event_type == "Message.Created"
        [attempt] = await list_attempts(mhub, delivery.id)
        assert attempt.status_code == 200 and attempt.response_body == "ok"
        # Resent from the log: the same message posted again.
        await resend(mhub, delivery.id)
        await drain(mhub)
        assert len(sim.messages("orders")) == 2
    creds = await load_credentials(mhub, slack.id)
    assert creds["webhook"].startswith("http") and creds["webhook"] not in str(await Integration.get(slack.id))


async def test_slack_bot_token_is_checked_with_auth_test_and_posts_with_chat_post_message(mhub: Hub) -> None:
    async with checked_slack() as sim:
        base = sim.api_url.rstrip("/")
        with pytest.raises(ProviderAuthError) as refused:
            await Integration.connect(provider="slack", token="xoxb-not-a-real-token", api_base_url=base)
        assert refused.value.code == "provider_auth_failed" and "invalid_auth" in refused.value.message
        bot = await Integration.connect(provider="slack", token=DEFAULT_TOKEN, api_base_url=base)
        assert bot["config"]["account"]["team_id"] == "T0HUBWIRE"
        queued = await Message.send(via="slack", channel="#general", text="hello", blocks=[SECTION])
        await drain(mhub)
        [posted] = sim.messages("general")
        sent = await Message.get(queued.id)
        assert sent["status"] == "Sent" and sent["provider_message_id"] == posted["ts"]
        assert posted["blocks"] == [SECTION]
        call = sim.requests_to("POST", "/api/chat.postMessage")[0]
        assert call.headers["Authorization"] == f"Bearer {DEFAULT_TOKEN}"


async def test_slack_ok_false_is_final_and_the_message_failed(mhub: Hub) -> None:
    async with checked_slack() as sim:
        await Integration.connect(provider="slack", token=DEFAULT_TOKEN, api_base_url=sim.api_url.rstrip("/"))
        queued = await Message.send(via="slack", channel="#nowhere", text="hello")
        await drain(mhub)
        failed = await Message.get(queued.id)
        assert failed["status"] == "Failed" and "channel_not_found" in failed["error"]
        [delivery] = await list_deliveries(mhub, event_id=None, status="dead")
        assert delivery.attempts == 1 and "channel_not_found" in (delivery.last_error or "")
        assert len(sim.requests_to("POST", "/api/chat.postMessage")) == 1
        dead = [j for j in await list_jobs(mhub, status="dead") if j.kind == "webhook.deliver"]
        assert len(dead) == 1  # the dead letter, visible in `hubwire jobs`


@pytest.mark.parametrize(("status", "retry_after", "wait"), [(429, 7.0, 7.0), (503, None, 5.0), (500, None, 5.0)])
async def test_slack_429_and_5xx_are_retried_429_after_its_retry_after(
    mhub: Hub, clock: FakeClock, status: int, retry_after: float | None, wait: float
) -> None:
    async with checked_slack() as sim:
        await Integration.connect(provider="slack", token=DEFAULT_TOKEN, api_base_url=sim.api_url.rstrip("/"))
        queued = await Message.send(via="slack", channel="#general", text="retry me")
        sim.fail_next(status=status, retry_after=retry_after)
        await drain(mhub)
        [delivery] = await list_deliveries(mhub)
        assert delivery.status == "failed" and delivery.last_status_code == status
        assert delivery.next_attempt_at is not None
        waited = delivery.next_attempt_at - (await list_attempts(mhub, delivery.id))[0].started_at
        assert waited == pytest.approx(wait, rel=0.21)  # the schedule has ±20% jitter; Retry-After none
        clock.advance(waited + 0.01)
        await drain(mhub)
        assert (await Message.get(queued.id))["status"] == "Sent"
        assert [m["text"] for m in sim.messages("general")] == ["retry me"]


async def test_teams_webhook_posts_an_adaptive_card(mhub: Hub) -> None:
    async with checked_teams() as sim:
        url = sim.add_webhook()
        await Integration.connect(provider="teams", webhook=url)
        queued = await Message.send(via="teams", text="**Deploy** finished")
        await drain(mhub)
        assert (await Message.get(queued.id))["status"] == "Sent"
        [req] = sim.requests_to("POST", "/webhookb2/")
        card = req.json()["attachments"][0]
        assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
        assert card["content"]["body"][-1]["text"] == "**Deploy** finished"


async def test_sendgrid_mail_send_records_the_message_id(mhub: Hub, clock: FakeClock) -> None:
    async with checked_sendgrid() as sim:
        await Integration.connect(
            provider="sendgrid", api_key=DEFAULT_API_KEY, from_email="shop@example.com", api_base_url=sim.url
        )
        with pytest.raises(ValidationError) as wrong:
            await Message.send(via="sendgrid", text="x")
        assert wrong.value.errors[0].code == "wrong_kind"
        queued = await EmailMessage.send(to="ada@example.com", subject="Welcome", html="<p>Hi Ada</p>")
        await drain(mhub)
        [mail] = sim.mails
        sent = await EmailMessage.get(queued.id)
        assert sent["status"] == "Sent" and sent["provider_message_id"] == mail.message_id
        assert mail.body["personalizations"][0]["to"] == [{"email": "ada@example.com"}]
        assert mail.body["content"] == [{"type": "text/html", "value": "<p>Hi Ada</p>"}]
        assert mail.body["from"] == {"email": "shop@example.com"}


async def test_sendgrid_refused_key_is_final(mhub: Hub) -> None:
    async with checked_sendgrid() as sim:
        await Integration.connect(
            provider="sendgrid", api_key="SG.wrong", from_email="shop@example.com", api_base_url=sim.url
        )
        queued = await EmailMessage.send(to="ada@example.com", subject="Welcome", html="<p>Hi</p>")
        await drain(mhub)
        failed = await EmailMessage.get(queued.id)
        assert failed["status"] == "Failed" and "401" in failed["error"] and "SG.wrong" not in failed["error"]


def _twilio_request(cb: Any) -> WebhookRequest:
    return WebhookRequest(
        urlencode(cb.params).encode(),
        {"X-Twilio-Signature": cb.signature, "Content-Type": "application/x-www-form-urlencoded"},
        url=cb.url,
    )


async def test_twilio_sms_and_its_signed_status_callbacks(mhub: Hub) -> None:
    async with checked_twilio(callback_interval=0) as sim:
        with pytest.raises(ProviderAuthError):
            await Integration.connect(
                provider="twilio",
                account_sid=DEFAULT_ACCOUNT_SID,
                auth_token="wrong",
                from_number=DEFAULT_FROM,
                api_base_url=sim.url,
            )
        sms = await Integration.connect(
            provider="twilio",
            account_sid=DEFAULT_ACCOUNT_SID,
            auth_token=DEFAULT_AUTH_TOKEN,
            from_number=DEFAULT_FROM,
            api_base_url=sim.url,
        )
        with pytest.raises(ValidationError):
            await Message.send(via="twilio", to="not a number", text="x")
        queued = await Message.send(via="twilio", to="+14155550100", text="Your order shipped")
        await drain(mhub)
        sent = await Message.get(queued.id)
        assert sent["status"] == "Sent" and sent["provider_message_id"].startswith("SM")
        req = sim.requests_to("POST", "/2010-04-01/")[0]
        assert req.headers["Authorization"].startswith("Basic ")
        for _ in range(200):  # the simulator tells each status in the background
            if len(sim.callbacks) >= 3:
                break
            await asyncio.sleep(0.01)
        assert [c.params["MessageStatus"] for c in sim.callbacks] == ["queued", "sent", "delivered"]
        assert sim.callbacks[0].url == f"https://hub.example.com/v1/hooks/{sms.id}"
        creds = await load_credentials(mhub, sms.id)
        provider = mhub.providers.get("twilio")
        ctx = ProviderContext(mhub, provider, sms, creds, sms["config"])
        verifier = verifier_for("twilio")
        # Delivered first, then the late "sent": the status never moves back.
        for cb in [sim.callbacks[2], sim.callbacks[1], sim.callbacks[0]]:
            verifier.verify(_twilio_request(cb), webhook_secrets(creds))
            hook = ReceivedHook("hk_1", sms.id, "twilio", None, None, cb.params, {}, mhub.clock())
            await provider.on_webhook(ctx, hook)
        assert (await Message.get(queued.id))["status"] == "Delivered"
        forged = sim.callbacks[2]
        with pytest.raises(SignatureError):
            verifier.verify(
                WebhookRequest(
                    b"MessageSid=SMx&MessageStatus=failed", {"X-Twilio-Signature": forged.signature}, url=forged.url
                ),
                webhook_secrets(creds),
            )


async def test_twilio_undelivered_callback_marks_the_message(mhub: Hub) -> None:
    async with checked_twilio(callback_interval=0) as sim:
        sim.set_fate("+14155550199", "undelivered")
        sms = await Integration.connect(
            provider="twilio",
            account_sid=DEFAULT_ACCOUNT_SID,
            auth_token=DEFAULT_AUTH_TOKEN,
            from_number=DEFAULT_FROM,
            api_base_url=sim.url,
        )
        queued = await Message.send(via="twilio", to="+14155550199", text="hello")
        await drain(mhub)
        for _ in range(200):
            if len(sim.callbacks) >= 3:
                break
            await asyncio.sleep(0.01)
        creds = await load_credentials(mhub, sms.id)
        provider = mhub.providers.get("twilio")
        ctx = ProviderContext(mhub, provider, sms, creds, sms["config"])
        for cb in sim.callbacks:
            hook = ReceivedHook("hk", sms.id, "twilio", None, None, cb.params, {}, mhub.clock())
            await provider.on_webhook(ctx, hook)
        got = await Message.get(queued.id)
        assert got["status"] == "Undelivered" and got["error"] == "Twilio error 30003"


async def test_events_are_routed_to_slack_with_a_template_and_to_teams_with_the_default_message(mhub: Hub) -> None:
    Deal = deal_noun()
    async with checked_slack() as slack_sim, checked_teams() as teams_sim:
        slack_sim.add_channel("deals")
        rule = await Integration.connect(
            provider="slack",
            webhook=slack_sim.add_webhook("#deals"),
            events=["Deal.Closed"],
            template="*Closed* {{ data.name }} for {{ data.value }}",
        )
        assert rule["slug"] is None or rule["slug"] != "slack"  # each rule is an Integration of its own
        await Integration.connect(provider="teams", webhook=teams_sim.add_webhook(), events=["Deal.*"])
        deal = await Deal.create(name="<!channel> Acme & co", value=500, stage="Open")
        await Deal.close(deal.id)
        await drain(mhub)
        [posted] = slack_sim.messages("deals")  # Deal.Created is not routed to Slack
        assert posted["text"] == "*Closed* &lt;!channel&gt; Acme &amp; co for 500"
        cards = [
            r.json()["attachments"][0]["content"]["body"][-1]["text"]
            for r in teams_sim.requests_to("POST", "/webhookb2/")
        ]
        assert sorted(c.splitlines()[0] for c in cards) == [
            f'Deal.Closed: Deal "<!channel> Acme & co" ({deal.id})',
            f'Deal.Created: Deal "<!channel> Acme & co" ({deal.id})',
        ]
        assert any("value: 500" in c for c in cards)
        routed = await list_deliveries(mhub, endpoint_id=rule.id)
        assert [d.event_type for d in routed] == ["Deal.Closed"] and routed[0].status == "succeeded"


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ data.__class__ }}",
        "{{ data['__init__'] }}",
        "{{ data|attr('__class__') }}",
        "{{ 'x' * 100000000 }}",
        "{{ data.update({'a': 1}) }}",
        "{% for x in range(10**9) %}{% endfor %}",
        "{% for a in range(5000) %}{% for b in range(5000) %}{% endfor %}{% endfor %}",
        "{{ unclosed",
    ],
)
async def test_a_template_that_escapes_the_sandbox_is_refused_at_connect(mhub: Hub, template: str) -> None:
    deal_noun()
    with pytest.raises(ValidationError) as refused:
        await Integration.connect(
            provider="slack", webhook="http://127.0.0.1:9/services/T/B/x", events=["Deal.Closed"], template=template
        )
    assert refused.value.errors[0].field == "template"
    assert refused.value.errors[0].code in ("unsafe_template", "invalid_template")
    assert await Integration.find({"provider": "slack"}) == []


async def test_routing_events_are_checked_against_the_registry(mhub: Hub) -> None:
    deal_noun()
    with pytest.raises(ValidationError) as typo:
        await Integration.connect(provider="slack", webhook="http://127.0.0.1:9/services/T/B/x", events=["Deal.Closd"])
    assert typo.value.errors[0].code == "unknown_event" and "Deal.Closed" in typo.value.errors[0].message
    with pytest.raises(ValidationError) as own:
        await Integration.connect(provider="slack", webhook="http://127.0.0.1:9/services/T/B/x", events=["Message.*"])
    assert own.value.errors[0].field == "events"


async def test_a_message_to_a_disconnected_integration_fails(mhub: Hub) -> None:
    async with checked_slack() as sim:
        slack = await Integration.connect(provider="slack", webhook=sim.add_webhook("#general"))
        queued = await Message.send(via="slack", text="too late")
        await Integration.disconnect(slack.id)
        await drain(mhub)
        failed = await Message.get(queued.id)
        assert failed["status"] == "Failed" and "Disconnected" in failed["error"]
        assert sim.messages("general") == []


async def test_via_must_name_one_connected_integration(mhub: Hub) -> None:
    with pytest.raises(ValidationError) as none:
        await Message.send(via="slack", text="x")
    assert none.value.errors[0].code == "not_connected"


async def test_an_event_routed_to_sendgrid_is_a_mail_with_html_escaped_values(mhub: Hub) -> None:
    Deal = deal_noun()
    async with checked_sendgrid() as sim:
        await Integration.connect(
            provider="sendgrid",
            api_key=DEFAULT_API_KEY,
            from_email="shop@example.com",
            api_base_url=sim.url,
            events=["Deal.Closed"],
            to="sales@example.com",
            template="<p>Closed: {{ data.name }}</p>",
        )
        deal = await Deal.create(name="<b>Acme</b>", value=1, stage="Open")
        await Deal.close(deal.id)
        await drain(mhub)
        [mail] = sim.mails
        assert mail.body["subject"] == "Deal.Closed"
        assert mail.body["personalizations"][0]["to"] == [{"email": "sales@example.com"}]
        assert mail.body["content"] == [{"type": "text/html", "value": "<p>Closed: &lt;b&gt;Acme&lt;/b&gt;</p>"}]


async def test_an_update_of_a_rules_template_or_events_is_checked_too(mhub: Hub) -> None:
    deal_noun()
    rule = await Integration.connect(
        provider="slack",
        webhook="http://127.0.0.1:9/services/T/B/x",
        events=["Deal.Closed"],
        template="{{ data.name }}",
    )
    with pytest.raises(ValidationError) as unsafe:
        await Integration.update(rule.id, config={**rule["config"], "template": "{{ data.__class__ }}"})
    assert unsafe.value.errors[0].field == "config.template"
    with pytest.raises(ValidationError) as typo:
        await Integration.update(rule.id, config={**rule["config"], "events": ["Deal.Closd"]})
    assert typo.value.errors[0].code == "unknown_event"
    fine = await Integration.update(rule.id, config={**rule["config"], "template": "*{{ data.name }}*"})
    assert fine["config"]["template"] == "*{{ data.name }}*"
