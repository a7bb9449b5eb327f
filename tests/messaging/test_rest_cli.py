"""Messages over REST (``POST /v1/messages/send``; a bare create refused) and the CLI (``hubwire Message.send``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from hubwire import Integration
from hubwire.api.app import create_app
from hubwire.api.keys import create_api_key
from hubwire.cli.verbs import parse_invocation, verbs_of
from hubwire.connectors.messaging import EmailMessage, Message
from hubwire.hub import Hub
from hubwire.simulators.sendgrid import DEFAULT_API_KEY
from tests.messaging.conftest import drain
from tests.simulators.messaging_fixtures import checked_sendgrid, checked_slack


@pytest.fixture
async def client(mhub: Hub) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(mhub)
    _, key = await create_api_key(mhub, "tests", scope="write")
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://hubwire.test", headers=headers) as c:
            yield c


async def test_send_over_rest_and_the_generic_create_is_refused(mhub: Hub, client: httpx.AsyncClient) -> None:
    async with checked_slack() as slack_sim, checked_sendgrid() as sg_sim:
        await Integration.connect(provider="slack", webhook=slack_sim.add_webhook("#general"))
        await Integration.connect(
            provider="sendgrid", api_key=DEFAULT_API_KEY, from_email="shop@example.com", api_base_url=sg_sim.url
        )
        r = await client.post("/v1/messages/send", json={"via": "slack", "text": "from REST"})
        assert r.status_code == 202, r.text
        assert r.json()["status"] == "Queued"
        mail = await client.post(
            "/v1/emailmessages/send", json={"to": "ada@example.com", "subject": "Hi", "html": "<b>hi</b>"}
        )
        assert mail.status_code == 202, mail.text
        bad = await client.post("/v1/messages/send", json={"via": "slack"})
        assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"
        bare = await client.post("/v1/messages", json={"via": "slack", "text": "bare"})
        assert bare.status_code == 422, bare.text
        forged = await client.patch(f"/v1/messages/{r.json()['$id']}", json={"status": "Delivered"})
        assert forged.status_code == 422
        await drain(mhub)
        assert [m["text"] for m in slack_sim.messages("general")] == ["from REST"]
        assert (await Message.get(r.json()["$id"]))["status"] == "Sent"
        assert (await EmailMessage.get(mail.json()["$id"]))["status"] == "Sent"


def test_the_cli_runs_message_send_as_a_verb() -> None:
    assert "send" in verbs_of(Message)
    inv = parse_invocation("Message.send", ["--via", "slack", "--text", "hi", "--channel", "#general"])
    assert inv.verb == "send" and inv.options["text"] == ["hi"]
