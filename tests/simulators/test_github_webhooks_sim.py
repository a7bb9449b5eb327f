"""The GitHub simulator's repository hooks, driven by githubkit (GitHub's typed SDK), and the webhooks it
posts: parsed by githubkit's models of GitHub's webhook payloads and verified by its ``verify`` and by
Hubwire's verifier, sent in the background and retried."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from hubwire.inbound import WebhookRequest, verifier_for
from hubwire.simulators.github import DEFAULT_TOKEN, GitHubSimulator

githubkit = pytest.importorskip("githubkit", reason="githubkit (dev extra) is not installed")
from githubkit.webhooks import parse, verify  # noqa: E402

SECRET = "It's a Secret to Everybody"


@dataclass
class Inbox:
    url: str = ""
    got: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    fail_first: int = 0
    gate: asyncio.Event | None = None


@pytest.fixture
async def inbox() -> AsyncIterator[Inbox]:
    box = Inbox()

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        if box.gate is not None:
            await box.gate.wait()
        box.got.append(({k.lower(): v for k, v in request.headers.items()}, body))
        if box.fail_first > 0:
            box.fail_first -= 1
            return web.Response(status=502)
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/hook", handle)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    box.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    yield box
    if box.gate is not None:
        box.gate.set()
    await runner.cleanup()


async def test_hooks_with_githubkit_and_signed_payloads_githubkit_parses(
    github_sim: GitHubSimulator, inbox: Inbox
) -> None:
    sim = github_sim
    sim.seed_repo(sim.login, "app")
    sim.seed_issue(sim.login, "app", title="Existing")
    gh = githubkit.GitHub(DEFAULT_TOKEN, base_url=sim.url + "/")
    rest = gh.rest
    config = {"url": inbox.url, "content_type": "json", "secret": SECRET, "insecure_ssl": "0"}
    events = ["issues", "issue_comment", "pull_request"]
    hook = (await rest.repos.async_create_webhook(sim.login, "app", config=config, events=events)).parsed_data
    assert hook.config.url == inbox.url and hook.config.secret == "********" and hook.events == events
    listed = (await rest.repos.async_list_webhooks(sim.login, "app")).parsed_data
    assert [h.id for h in listed] == [hook.id]
    assert (await rest.repos.async_get_webhook(sim.login, "app", hook.id)).parsed_data.active is True

    made = (await rest.issues.async_create(sim.login, "app", title="Via API")).parsed_data
    await rest.issues.async_update(sim.login, "app", made.number, state="closed", state_reason="completed")
    await rest.issues.async_create_comment(sim.login, "app", made.number, body="done")
    sim.seed_issue(sim.login, "app", title="PR", is_pull_request=True)
    sim.delete_issue(sim.login, "app", 1)
    await sim.sender.idle()
    names = [(h["x-github-event"], json.loads(b).get("action")) for h, b in inbox.got]
    assert names == [
        ("ping", None),
        ("issues", "opened"),
        ("issues", "closed"),
        ("issue_comment", "created"),
        ("pull_request", "opened"),
        ("issues", "deleted"),
    ]
    deliveries = set()
    for headers, body in inbox.got:
        assert verify(SECRET, body, headers["x-hub-signature-256"])
        request = WebhookRequest(body, headers, url=inbox.url)
        deliveries.add(verifier_for("github").verify(request, SECRET))
        event = parse(headers["x-github-event"], body)  # githubkit's pydantic models of GitHub's payloads
        assert event.repository is not None and event.repository.full_name == f"{sim.login}/app"
        assert headers["x-github-hook-id"] == str(hook.id) and headers["content-type"] == "application/json"
    assert len(deliveries) == len(inbox.got)  # X-GitHub-Delivery: one GUID per delivery
    closed = parse("issues", inbox.got[2][1])
    assert closed.issue.state == "closed" and closed.issue.number == made.number  # type: ignore[union-attr]

    await rest.repos.async_delete_webhook(sim.login, "app", hook.id)
    sim.update_issue(sim.login, "app", made.number, title="Quiet")
    await sim.sender.idle()
    assert len(inbox.got) == 6 and not sim.mismatches


async def test_a_slow_receiver_never_holds_the_api_answer_and_failures_are_retried(
    github_sim: GitHubSimulator, inbox: Inbox
) -> None:
    sim = github_sim
    sim.seed_repo(sim.login, "app")
    gh = githubkit.GitHub(DEFAULT_TOKEN, base_url=sim.url + "/")
    rest = gh.rest
    config = {"url": inbox.url, "content_type": "json", "secret": SECRET}
    await rest.repos.async_create_webhook(sim.login, "app", config=config, events=["issues"])
    await sim.sender.idle()
    inbox.got.clear()
    inbox.gate = asyncio.Event()
    made = (await rest.issues.async_create(sim.login, "app", title="Held")).parsed_data
    assert made.number == 1 and inbox.got == []  # answered while the webhook is still held
    inbox.fail_first = 2
    inbox.gate.set()
    await sim.sender.idle()
    sent = sim.sender.sent[-1]
    assert sent.delivered and sent.attempts == 3
    assert len({h["x-github-delivery"] for h, _ in inbox.got}) == 1  # a redelivery keeps its GUID
