"""The Microsoft Teams simulator over real HTTP (Teams has no official Python client): incoming and
Workflows webhooks with Adaptive Card messages, Teams' answers (200 ``1``, 202, 400, 404, 413, 429),
faults, and the distinctive 400 for messages whose envelope or card breaks the Adaptive Cards schema."""

from __future__ import annotations

import time
from typing import Any

import aiohttp

from hubwire.simulators.teams import MISMATCH
from tests.simulators.messaging_fixtures import checked_teams, require_spec

SPEC = "msteams/adaptive-card-1.5.0.json"
CARD: dict[str, Any] = {
    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
    "type": "AdaptiveCard",
    "version": "1.5",
    "body": [
        {"type": "TextBlock", "text": "New order for <at>Ada</at>", "wrap": True, "weight": "Bolder"},
        {"type": "FactSet", "facts": [{"title": "Order", "value": "#1001"}, {"title": "Total", "value": "$42"}]},
    ],
    "actions": [{"type": "Action.OpenUrl", "title": "Open", "url": "https://shop.example.com/orders/1001"}],
    "msteams": {
        "width": "Full",
        "entities": [
            {"type": "mention", "text": "<at>Ada</at>", "mentioned": {"id": "ada@example.com", "name": "Ada"}}
        ],
    },
}


def message(card: dict[str, Any], **attachment: Any) -> dict[str, Any]:
    att = {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card, **attachment}
    return {"type": "message", "attachments": [att]}


async def post(url: str, payload: Any = None, *, data: bytes | None = None) -> tuple[int, str, dict[str, str]]:
    async with aiohttp.ClientSession() as http, http.post(url, json=payload, data=data) as r:
        return r.status, await r.text(), dict(r.headers)


async def test_incoming_and_workflow_webhooks_take_adaptive_cards() -> None:
    require_spec(SPEC)
    async with checked_teams() as sim:
        hook, flow = sim.add_webhook(), sim.add_workflow()
        status, text, _ = await post(hook, message(CARD))
        assert (status, text) == (200, "1")
        status, text, _ = await post(flow, message(CARD))
        assert (status, text) == (202, "")
        assert sim.cards(hook) == [CARD] and sim.cards(flow) == [CARD]


async def test_teams_answers_for_bad_requests() -> None:
    async with checked_teams(max_bytes=4_000) as sim:
        hook, flow = sim.add_webhook(), sim.add_workflow()
        assert (await post(hook, data=b"{not json"))[:2] == (400, "Bad payload received by generic incoming webhook.")
        assert (await post(hook.rsplit("/", 1)[0] + "/00000000-0000-0000-0000-000000000000", message(CARD)))[0] == 404
        status, _, _ = await post(flow.replace("sig=", "sig=x"), message(CARD))
        assert status == 401
        huge = {**CARD, "body": [{"type": "TextBlock", "text": "x" * 5_000}]}
        huge.pop("msteams")
        status, text, _ = await post(hook, message(huge))
        assert status == 413 and "HTTP error 413" in text
        assert sim.cards(hook) == [] and sim.cards(flow) == []


async def test_rate_limit_and_faults() -> None:
    async with checked_teams(rate_limits=True) as sim:
        hook = sim.add_webhook()
        answers = [(await post(hook, message(CARD)))[0] for _ in range(5)]
        assert answers == [200, 200, 200, 200, 429]
        status, text, headers = await post(hook, message(CARD))
        assert status == 429 and "HTTP error 429" in text and int(headers["Retry-After"]) >= 1
        assert len(sim.cards(hook)) == 4
    async with checked_teams() as sim:
        hook = sim.add_webhook()
        sim.fail_next(1, status=429, retry_after=5)
        status, _, headers = await post(hook, message(CARD))
        assert status == 429 and headers["Retry-After"] == "5"
        sim.fail_next(2, status=502)
        assert [(await post(hook, message(CARD)))[0] for _ in range(2)] == [502, 502]
        sim.slow_next(1, delay=0.3)
        start = time.monotonic()
        assert (await post(hook, message(CARD)))[:2] == (200, "1")
        assert time.monotonic() - start >= 0.3 and len(sim.cards(hook)) == 1


async def test_messages_breaking_the_envelope_or_the_card_schema_get_the_distinctive_400() -> None:
    require_spec(SPEC)
    async with checked_teams() as sim:
        hook = sim.add_webhook()
        no_mention = {**CARD, "body": [{"type": "TextBlock", "text": "nobody here"}]}
        for payload, expected in [
            (message(CARD, contentType="application/vnd.microsoft.card.hero"), "contentType must be"),
            ({"text": "a legacy MessageCard"}, "type must be 'message'"),
            (message({**CARD, "body": [{"type": "TextBlock", "txt": "typo"}]}), "'txt' was unexpected"),
            (message({**CARD, "body": [{"type": "TextBlok", "text": "x"}]}), "unknown element type 'TextBlok'"),
            (message({**CARD, "actions": [{"type": "Action.OpenUrl", "title": "x"}]}), "'url' is a required property"),
            (message(no_mention), "'<at>Ada</at>' does not appear in the card"),
        ]:
            status, text, _ = await post(hook, payload)
            assert status == 400 and text.startswith(MISMATCH) and expected in text, text
        assert len(sim.mismatches) >= 6 and sim.cards(hook) == []
        sim.mismatches.clear()
        # The schema itself would reject Teams' msteams extension: the simulator checks it apart.
        assert sim.spec is not None and not sim.spec.validator.is_valid(CARD)
        assert (await post(hook, message(CARD)))[:2] == (200, "1")
