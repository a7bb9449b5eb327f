"""Reconciliation against the simulators: GitHub's deleted issues and comments, Stripe's deleted
customers whose events have left the feed, are seen only by a full sync, and deleted here."""

from __future__ import annotations

import pytest

import hubwire.connectors.github
import hubwire.connectors.stripe  # noqa: F401
from hubwire.domains.billing import Customer
from hubwire.domains.platform import Integration, run_sync
from hubwire.domains.projects import Comment, Issue
from hubwire.hub import Hub
from hubwire.jobs import Worker
from hubwire.net.http import HttpClient, RetryPolicy, use_http_client
from hubwire.simulators.github import DEFAULT_TOKEN, GitHubSimulator
from hubwire.simulators.stripe import StripeSimulator
from hubwire.store.events import EventRecord, read_after
from hubwire.sync.runs import list_runs
from tests.connectors.loopback import LOOPBACK


@pytest.fixture(autouse=True)
def fast_retries(hub: Hub) -> None:
    use_http_client(hub, HttpClient(policy=LOOPBACK, retry=RetryPolicy(attempts=3, base=0.01, max=0.05)))


async def events(hub: Hub, prefix: str) -> list[EventRecord]:
    async with hub.read() as conn:
        return [e for e in await read_after(conn, 0, limit=10_000) if e.type.startswith(prefix)]


async def test_github_deleted_issues_and_comments(hub: Hub, github_sim: GitHubSimulator) -> None:
    sim = github_sim
    sim.seed_repo(sim.login, "app")
    for n in range(1, 6):
        sim.seed_issue(sim.login, "app", title=f"Issue {n}")
        for c in range(2):
            sim.seed_comment(sim.login, "app", n, body=f"comment {c} on {n}")
    integ = await Integration.connect(
        provider="github", token=DEFAULT_TOKEN, api_base_url=sim.url, repos=[f"{sim.login}/app"]
    )
    await Worker(hub).drain()
    assert len(await Issue.find(limit=100)) == 5 and len(await Comment.find(limit=100)) == 10

    sim.delete_issue(sim.login, "app", 5)  # and its two comments: GitHub lists them no more
    await run_sync(hub, integ.id)  # incremental: GitHub says nothing of deletions
    assert len(await Issue.find(limit=100)) == 5

    await run_sync(hub, integ.id, full=True)
    assert sorted(i["title"] for i in await Issue.find(limit=100)) == [f"Issue {n}" for n in range(1, 5)]
    assert [e.data["title"] for e in await events(hub, "Issue.Deleted")] == ["Issue 5"]
    deleted = await events(hub, "Comment.Deleted")
    assert sorted(e.data["body"] for e in deleted) == ["comment 0 on 5", "comment 1 on 5"]
    assert {e.source for e in deleted} == {"github"}

    doomed = next(c for c in sim.comments(sim.login, "app") if c["body"] == "comment 1 on 2")
    sim.delete_comment(sim.login, "app", doomed["id"])
    await Integration.sync(integ.id, wait=True, full=True)
    assert "comment 1 on 2" not in {c["body"] for c in await Comment.find(limit=100)}
    assert len(await Comment.find(limit=100)) == 7
    run = (await list_runs(hub, integ.id))[0]
    assert run.status == "succeeded" and run.counts["Comment"]["deleted"] == 1


async def test_stripe_customers_gone_from_the_lists(hub: Hub, stripe_sim: StripeSimulator) -> None:
    sim = stripe_sim
    customers = [sim.seed("customer", email=f"c{i}@example.com", name=f"C{i}") for i in range(10)]
    integ = await Integration.connect(provider="stripe", api_key="sk_test_hubwire", api_base_url=sim.url)
    await Worker(hub).drain()
    assert len(await Customer.find(limit=100)) == 10

    for cus in customers[:3]:  # 30% of them
        sim.state.delete("customer", cus["id"])
    sim.state.expire_events()  # a month later: the customer.deleted events have left the feed
    await run_sync(hub, integ.id)
    assert len(await Customer.find(limit=100)) == 10  # incremental: nothing says they are gone

    await run_sync(hub, integ.id, full=True)
    assert len(await Customer.find(limit=100)) == 10  # held: more than 20% at once
    run = (await list_runs(hub, integ.id))[0]
    assert run.status == "held" and run.summary is not None
    assert run.summary.startswith("3 of 10 Customers (customer) would be deleted")
    [held] = await events(hub, "Sync.DeletionsHeld")
    assert held.data["resources"] == [{"resource": "customer", "noun": "Customer", "would_delete": 3, "of": 10}]

    await run_sync(hub, integ.id, full=True, confirm_deletions=True)
    left = sorted(c["email"] for c in await Customer.find(limit=100))
    assert left == sorted(f"c{i}@example.com" for i in range(3, 10))
    assert len(await events(hub, "Customer.Deleted")) == 3
    # The feed's watermark was taken again by the full run: the next incremental run works as before.
    sim.seed("customer", email="new@example.com", name="New")
    await run_sync(hub, integ.id)
    assert len(await Customer.find(limit=100)) == 8
