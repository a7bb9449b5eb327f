"""GitHub webhooks end to end: connect makes a hook on each followed repository of the simulator,
the simulator posts signed events to a loopback receiver, they are verified and applied."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

import hubwire.connectors.github  # noqa: F401 - registers the provider and its writers
from hubwire.connectors.github.webhooks import EVENTS
from hubwire.connectors.registration import NO_PUBLIC_URL
from hubwire.connectors.registry import ProviderContext
from hubwire.domains.platform import Integration, run_sync
from hubwire.domains.projects import Comment, Issue, Project
from hubwire.hub import Hub
from hubwire.inbound.received import ReceivedHook
from hubwire.net.http import HttpClient, RetryPolicy, use_http_client
from hubwire.simulators.github import DEFAULT_TOKEN, GitHubSimulator
from hubwire.vault.credentials import load_credentials
from tests.connectors.hooks import HookReceiver, hook_receiver
from tests.connectors.loopback import LOOPBACK


@pytest.fixture
async def gh(hub: Hub, github_sim: GitHubSimulator) -> AsyncIterator[GitHubSimulator]:
    use_http_client(hub, HttpClient(policy=LOOPBACK, retry=RetryPolicy(attempts=3, base=0.01, max=0.05)))
    sim = github_sim
    sim.seed_repo(sim.login, "app")
    sim.seed_repo("acme", "site")
    sim.seed_issue(sim.login, "app", title="Crash on start", labels=["bug"])
    sim.seed_issue(sim.login, "app", title="Fix crash", is_pull_request=True)
    sim.seed_comment(sim.login, "app", 1, body="I see it too")
    yield sim


@pytest.fixture
async def receiver(hub: Hub) -> AsyncIterator[HookReceiver]:
    async with hook_receiver() as rec:
        hub.settings = hub.settings.replace(public_url=rec.base)
        yield rec


async def connect(sim: GitHubSimulator, **kw: Any) -> str:
    return (await Integration.connect(provider="github", token=DEFAULT_TOKEN, api_base_url=sim.url, **kw)).id


async def arrived(sim: GitHubSimulator, rec: HookReceiver, hub: Hub, iid: str) -> list[str]:
    await sim.sender.idle()
    return await rec.apply_new(hub, iid)


async def test_connect_makes_a_hook_per_repository_and_disconnect_removes_them(
    hub: Hub, gh: GitHubSimulator, receiver: HookReceiver
) -> None:
    iid = await connect(gh)
    assert (await Integration.get(iid))["webhooks"] == f"registered: {receiver.url(iid)}"
    secret = (await load_credentials(hub, iid))["webhook_secret"]
    for owner, name in ((gh.login, "app"), ("acme", "site")):
        (hook,) = gh._repo(owner, name).hooks.values()
        assert hook["config"] == {
            "url": receiver.url(iid),
            "content_type": "json",
            "insecure_ssl": "0",
            "secret": secret,
        }
        assert hook["events"] == list(EVENTS) and hook["active"] is True
    # GitHub pings each new hook; the ping is verified and ignored.
    assert await arrived(gh, receiver, hub, iid) == ["ignored", "ignored"]
    pings = receiver.to(iid)
    assert {d.headers["x-github-event"] for d in pings} == {"ping"}
    await Integration.disconnect(iid)
    assert not gh._repo(gh.login, "app").hooks and not gh._repo("acme", "site").hooks


async def test_a_repository_that_refuses_a_hook_stays_polled_and_says_so(
    hub: Hub, gh: GitHubSimulator, receiver: HookReceiver
) -> None:
    gh.fail_next(1, status=404, when=lambda r: r.method == "POST" and r.path == "/repos/acme/site/hooks")
    iid = await connect(gh)
    status = (await Integration.get(iid))["webhooks"]
    assert status.startswith(f"registered: {receiver.url(iid)} (polling 1 repositories GitHub refused a hook on: ")
    assert "acme/site" in status and gh._repo(gh.login, "app").hooks and not gh._repo("acme", "site").hooks
    # Refused everywhere: the Integration polls, and says why.
    gh.fail_next(10, status=403, when=lambda r: r.method == "POST" and r.path.endswith("/hooks"))
    await connect(gh)
    status = (await Integration.get(iid))["webhooks"]
    assert status.startswith("polling: GitHub refused the webhook registration:")
    assert "webhook_secret" not in await load_credentials(hub, iid)


async def test_without_a_public_url_the_integration_says_it_polls(hub: Hub, gh: GitHubSimulator) -> None:
    iid = await connect(gh)
    assert (await Integration.get(iid))["webhooks"] == NO_PUBLIC_URL
    assert not gh._repo(gh.login, "app").hooks


async def test_issue_comment_and_pull_request_events_apply_and_fire_the_verbs(
    hub: Hub, gh: GitHubSimulator, receiver: HookReceiver
) -> None:
    iid = await connect(gh)
    await run_sync(hub, iid)
    await arrived(gh, receiver, hub, iid)  # the pings
    completed: list[tuple[str, str]] = []

    @Issue.completed
    async def on_completed(issue: Any, ctx: Any) -> None:
        completed.append((issue["title"], ctx.event.source))

    gh.update_issue(gh.login, "app", 1, title="Crash on start (macOS)")
    gh.update_issue(gh.login, "app", 1, state="closed", state_reason="completed")
    made = gh.seed_issue(gh.login, "app", title="New on GitHub")
    gh.seed_comment(gh.login, "app", made["number"], body="first!")
    gh.update_issue(gh.login, "app", 2, merged=True)
    assert await arrived(gh, receiver, hub, iid) == ["applied"] * 5
    events = [d.headers["x-github-event"] + "." + d.json()["action"] for d in receiver.to(iid)[2:]]
    assert events == ["issues.edited", "issues.closed", "issues.opened", "issue_comment.created", "pull_request.closed"]
    issues = {i["title"]: i for i in await Issue.find({}, limit=100)}
    assert issues["Crash on start (macOS)"]["status"] == "Completed"
    assert completed == [("Crash on start (macOS)", "github"), ("Fix crash", "github")]  # merged: completed
    assert issues["New on GitHub"]["project"] == (await Project.find({"name": "app"}))[0].id
    assert issues["Fix crash"]["merged"] is True and issues["Fix crash"]["status"] == "Completed"
    (first,) = await Comment.find({"body": "first!"})
    assert first["issue"] == issues["New on GitHub"].id
    # What arrived by webhook hashes as the sync's mapping would: a sync afterwards changes nothing.
    before = {i.id: i.version for i in await Issue.find({}, limit=100)}
    await run_sync(hub, iid, full=True)
    assert {i.id: i.version for i in await Issue.find({}, limit=100)} == before
    # Deleted on GitHub: deleted here, with its comments' deletion arriving as their own events.
    comment_id = gh.comments(gh.login, "app")[0]["id"]
    gh.delete_comment(gh.login, "app", comment_id)
    gh.delete_issue(gh.login, "app", made["number"])
    assert await arrived(gh, receiver, hub, iid) == ["applied", "applied"]
    assert [i["title"] for i in await Issue.find({"title": "New on GitHub"})] == []
    assert [c["body"] for c in await Comment.find({})] == ["first!"]


async def test_late_and_repeated_deliveries_never_move_an_issue_back(
    hub: Hub, gh: GitHubSimulator, receiver: HookReceiver
) -> None:
    iid = await connect(gh)
    await run_sync(hub, iid)
    gh.update_issue(gh.login, "app", 1, title="Two")
    gh.update_issue(gh.login, "app", 1, title="Three")
    await gh.sender.idle()
    two, three = receiver.to(iid)[-2:]
    for delivery in (three, two, three):
        assert await receiver.apply(hub, iid, delivery) == "applied"
    (issue,) = await Issue.find({"number": 1, "is_pull_request": False})
    assert issue["title"] == "Three" and issue.version == 2  # the sync's, then one update


async def test_a_webhook_and_a_running_sync_end_consistent(
    hub: Hub, gh: GitHubSimulator, receiver: HookReceiver
) -> None:
    iid = await connect(gh)
    await run_sync(hub, iid)
    for n in range(4):
        made = gh.seed_issue(gh.login, "app", title=f"Race {n}")
        gh.update_issue(gh.login, "app", made["number"], title=f"Race {n} (edited)", state="closed")
        await gh.sender.idle()
        deliveries = receiver.to(iid)[-2:]

        async def webhooks(deliveries: list[Any] = deliveries) -> None:
            for d in deliveries:
                await receiver.apply(hub, iid, d)
                await asyncio.sleep(0)

        await asyncio.gather(run_sync(hub, iid, full=n % 2 == 0), webhooks())
        found = await Issue.find({"number": made["number"], "is_pull_request": False, "title": {"$ne": "x"}})
        mine = [i for i in found if i["title"].startswith(f"Race {n}")]
        assert len(mine) == 1 and mine[0]["title"] == f"Race {n} (edited)" and mine[0]["status"] == "Completed"


async def deliver(hub: Hub, iid: str, event: str, payload: dict[str, Any]) -> str:
    """A verified delivery as the inbox hands it over (made here from the simulator's own objects)."""
    integ = await Integration.get(iid)
    provider = hub.providers.get("github")
    headers = {"x-github-event": event, "x-github-delivery": f"d-{event}-{payload.get('action')}"}
    hook = ReceivedHook(
        id="hook_1",
        integration_id=iid,
        provider="github",
        event_id=headers["x-github-delivery"],
        event_type=provider.webhook_event_type(headers, payload),
        payload=payload,
        headers=headers,
        received_at=0.0,
    )
    ctx = ProviderContext(hub, provider, integ, await load_credentials(hub, iid), dict(integ.get("config") or {}))
    return await provider.on_webhook(ctx, hook)


async def test_repository_edits_deletions_and_issue_transfers(hub: Hub, gh: GitHubSimulator) -> None:
    iid = await connect(gh)
    await run_sync(hub, iid)
    app = dict(gh._repo(gh.login, "app").json)
    site = dict(gh._repo("acme", "site").json)
    edited = {**app, "description": "Now described", "updated_at": "2099-01-01T00:00:00Z"}
    assert await deliver(hub, iid, "repository", {"action": "edited", "repository": edited}) == "applied"
    assert (await Project.find({"name": "app"}))[0]["description"] == "Now described"
    # An issue moved to another followed repository: gone from the first, there in the second.
    issue = dict(gh.issue(gh.login, "app", 1))
    moved = {**issue, "number": 7, "repository_url": site["url"], "updated_at": "2099-01-01T00:00:01Z"}
    payload = {
        "action": "transferred",
        "issue": issue,
        "changes": {"new_issue": moved, "new_repository": site},
        "repository": app,
    }
    assert await deliver(hub, iid, "issues", payload) == "applied"
    (found,) = await Issue.find({"title": "Crash on start"})
    assert found["number"] == 7 and found["project"] == (await Project.find({"name": "site"}))[0].id
    # A deleted repository deletes its Project; a ping or an event not followed is ignored.
    assert await deliver(hub, iid, "repository", {"action": "deleted", "repository": edited}) == "applied"
    assert [p["name"] for p in await Project.find({})] == ["site"]
    assert await deliver(hub, iid, "ping", {"zen": "Keep it logically awesome."}) == "ignored"
    assert await deliver(hub, iid, "star", {"action": "created", "repository": site}) == "ignored"
