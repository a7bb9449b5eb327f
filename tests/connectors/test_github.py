"""The GitHub connector end to end through the SDK, against the GitHub simulator, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

import hubwire.connectors.github  # noqa: F401 - registers the provider and its writers
from hubwire.connectors.registry import ProviderRegistry
from hubwire.domains.platform import Integration
from hubwire.domains.projects import Comment, Issue, Project
from hubwire.errors import (
    ProviderAuthError,
    ProviderInvalidRequest,
    ProviderRateLimited,
    ProviderUnavailable,
    ValidationError,
)
from hubwire.hub import Hub
from hubwire.jobs import Worker
from hubwire.net.http import HttpClient, RetryPolicy, use_http_client
from hubwire.nouns import on
from hubwire.simulators.github import DEFAULT_TOKEN, GitHubSimulator
from hubwire.sync.runs import list_runs
from tests.api.conftest import rest_client
from tests.connectors.loopback import LOOPBACK
from tests.simulators.github_fixtures import checked_github


@pytest.fixture
async def gh(hub: Hub, github_sim: GitHubSimulator, providers: ProviderRegistry) -> AsyncIterator[GitHubSimulator]:
    """The simulator seeded with two repositories, issues (one a pull request) and comments."""
    assert "github" in providers
    # Fast retries: the outage tests should not sleep for real.
    use_http_client(hub, HttpClient(policy=LOOPBACK, retry=RetryPolicy(attempts=4, base=0.01, max=0.05)))
    sim = github_sim
    sim.seed_repo(sim.login, "app", description="The app")
    sim.seed_repo("acme", "site", private=True)
    sim.seed_issue(sim.login, "app", title="Crash on start", body="stack trace", labels=["bug"])
    sim.seed_issue(sim.login, "app", title="Fix crash", is_pull_request=True)
    sim.seed_issue(sim.login, "app", title="Old idea", state="closed", state_reason="not_planned")
    sim.seed_issue("acme", "site", title="Typo", state="closed")
    sim.seed_comment(sim.login, "app", 1, body="I see it too")
    sim.seed_comment(sim.login, "app", 1, body="Fixed in #2")
    yield sim


async def connect(sim: GitHubSimulator, **kw: Any) -> Any:
    return await Integration.connect(provider="github", token=DEFAULT_TOKEN, api_base_url=sim.url, **kw)


async def test_connect_checks_the_token_and_the_initial_sync_fills_projects(gh: GitHubSimulator, hub: Hub) -> None:
    integ = await connect(gh)
    assert integ["status"] == "Connected"
    assert integ["config"]["account"]["login"] == gh.login
    assert [r.path for r in gh.requests][:1] == ["/user"]
    await Worker(hub).drain()

    integ = await Integration.get(integ.id)
    assert integ["status"] == "Synced" and integ["last_sync_count"] == 2 + 4 + 2
    projects = {p["full_name"]: p for p in await Project.find({})}
    assert set(projects) == {f"{gh.login}/app", "acme/site"}
    assert projects["acme/site"]["private"] is True and projects[f"{gh.login}/app"]["description"] == "The app"
    issues = {i["title"]: i for i in await Issue.find({}, limit=100)}
    assert issues["Crash on start"]["project"] == projects[f"{gh.login}/app"].id
    assert issues["Crash on start"]["labels"] == ["bug"] and issues["Crash on start"]["status"] == "Open"
    assert issues["Fix crash"]["is_pull_request"] is True and issues["Crash on start"]["is_pull_request"] is False
    assert issues["Old idea"]["status"] == "Closed" and issues["Typo"]["status"] == "Completed"
    assert issues["Typo"]["project"] == projects["acme/site"].id
    assert issues["Crash on start"]["url"] == f"https://github.com/{gh.login}/app/issues/1"
    comments = await Comment.find({}, sort="posted_at")
    assert [c["body"] for c in comments] == ["I see it too", "Fixed in #2"]
    assert {c["issue"] for c in comments} == {issues["Crash on start"].id}
    # Every list request paged GitHub's way.
    issue_lists = [r for r in gh.requests if r.path.endswith("/issues")]
    assert issue_lists and all(r.query.get("per_page") == "100" and r.query["state"] == "all" for r in issue_lists)


async def test_issues_record_whether_a_pull_request_was_merged(gh: GitHubSimulator, hub: Hub) -> None:
    gh.seed_issue(gh.login, "app", title="Shipped", merged=True)
    integ = await connect(gh)
    await Integration.sync(integ.id, wait=True)
    issues = {i.title: i for i in await Issue.find({"project": {"$ne": None}}, limit=100)}
    shipped, pending, plain = issues["Shipped"], issues["Fix crash"], issues["Crash on start"]
    assert shipped.merged is True and shipped.merged_at == gh.issue(gh.login, "app", 4)["pull_request"]["merged_at"]
    assert shipped.status == "Completed"
    assert (pending.merged, pending.merged_at) == (False, None)
    assert (plain.merged, plain.merged_at) == (None, None)  # not a pull request
    assert [i.title for i in await Issue.find({"merged": True})] == ["Shipped"]
    # Merged on GitHub later: the next (incremental) sync records it.
    gh.update_issue(gh.login, "app", 2, merged=True)
    await Integration.sync(integ.id, wait=True)
    merged = await Issue.get(pending.id)
    assert merged.merged is True and merged.merged_at and merged.status == "Completed"


async def test_repos_config_limits_what_is_followed(gh: GitHubSimulator, hub: Hub) -> None:
    integ = await connect(gh, repos=["acme/site"])
    await Integration.sync(integ.id, wait=True)
    assert [p["full_name"] for p in await Project.find({})] == ["acme/site"]
    assert [i["title"] for i in await Issue.find({})] == ["Typo"]
    assert not gh.requests_to("GET", "/user/repos")
    with pytest.raises(ValidationError):
        await connect(gh, repos=["not a repo"])


async def test_bad_token_is_refused_status_unchanged_and_errored_fires(gh: GitHubSimulator, hub: Hub) -> None:
    errored: list[str] = []

    @on("Integration.Errored")
    async def record(entity: Any, ctx: Any) -> None:
        errored.append(entity["error"])

    with pytest.raises(ProviderAuthError, match="Bad credentials"):
        await Integration.connect(provider="github", token="ghp_wrong", api_base_url=gh.url)
    assert await Integration.find({"provider": "github"}) == [] and errored == []  # nothing made
    integ = await connect(gh)
    with pytest.raises(ProviderAuthError, match="Bad credentials"):
        await Integration.connect(integ.id, token="ghp_wrong")
    found = await Integration.find({"provider": "github"})
    assert [i["status"] for i in found] == ["Connected"]
    assert errored and "Bad credentials" in errored[0] and "ghp_wrong" not in errored[0]


async def test_incremental_sync_asks_since_and_gets_304_for_unchanged_repos(gh: GitHubSimulator, hub: Hub) -> None:
    integ = await connect(gh)
    await Integration.sync(integ.id, wait=True)
    await Integration.sync(integ.id, wait=True)  # a pass with since: stores the ETag of a one-page answer
    before = {i["title"]: i.version for i in await Issue.find({})}
    mark = len(gh.requests)
    gh.update_issue(gh.login, "app", 1, title="Crash on start (macOS)")
    await Integration.sync(integ.id, wait=True)

    third = gh.requests[mark:]
    app_issues = [r for r in third if r.path == f"/repos/{gh.login}/app/issues"]
    site_issues = [r for r in third if r.path == "/repos/acme/site/issues"]
    assert app_issues[0].query.get("since") and app_issues[0].status == 200
    assert site_issues[0].query.get("since") and site_issues[0].status == 304
    assert "If-None-Match" in site_issues[0].headers
    after = {i["title"]: i.version for i in await Issue.find({})}
    assert after.pop("Crash on start (macOS)") == before.pop("Crash on start") + 1
    assert after == before  # nothing else was rewritten
    first, *_, last = reversed(await list_runs(hub, integ.id))
    assert first.counts["Issue"]["created"] == 4 and first.counts["Comment"]["created"] == 2
    assert last.status == "succeeded" and last.counts["Issue"]["updated"] == 1
    assert last.counts["Issue"]["created"] == 0 and last.counts.get("Comment", {}).get("updated", 0) == 0

    # Once a pass has seen the new watermark, a sync with nothing changed is all 304s, free of rate limit.
    await Integration.sync(integ.id, wait=True)
    used = gh.rate_used()
    mark = len(gh.requests)
    await Integration.sync(integ.id, wait=True)
    lists = [r for r in gh.requests[mark:] if "/issues" in r.path]
    assert lists and all(r.status == 304 for r in lists)
    assert gh.rate_used() - used == len(gh.requests[mark:]) - len(lists)


async def test_issue_create_writes_through_and_links(gh: GitHubSimulator, hub: Hub) -> None:
    integ = await connect(gh)
    await Integration.sync(integ.id, wait=True)
    app = (await Project.find({"full_name": f"{gh.login}/app"}))[0]

    issue = await Issue.create(title="Add dark mode", body="please", project=app.id, labels=["ui"])
    remote = gh.issues(gh.login, "app")[-1]
    assert remote["title"] == "Add dark mode" and remote["body"] == "please"
    assert [lb["name"] for lb in remote["labels"]] == ["ui"]
    assert issue["number"] == remote["number"] == 4 and issue["url"] == remote["html_url"]
    assert issue["author"] == gh.login and issue["status"] == "Open"

    # The next sync sees it as its own: no duplicate, nothing rewritten.
    await Integration.sync(integ.id, wait=True)
    same = await Issue.find({"title": "Add dark mode"})
    assert [i.id for i in same] == [issue.id] and same[0].version == issue.version

    # A local Project (no GitHub counterpart) keeps its issues local.
    local = await Project.create(name="Local only")
    posted = len(gh.requests_to("POST", f"/repos/{gh.login}/app/issues"))
    await Issue.create(title="Offline", project=local.id)
    assert len(gh.requests_to("POST", f"/repos/{gh.login}/app/issues")) == posted


async def test_update_complete_close_reopen_patch_github(gh: GitHubSimulator, hub: Hub) -> None:
    integ = await connect(gh)
    await Integration.sync(integ.id, wait=True)
    issue = (await Issue.find({"title": "Crash on start"}))[0]
    completed: list[str] = []

    @Issue.completed
    async def seen(entity: Any, ctx: Any) -> None:
        completed.append(entity.id)

    await Issue.update(issue.id, title="Crash at startup")
    assert gh.issue(gh.login, "app", 1)["title"] == "Crash at startup"
    done = await Issue.complete(issue.id)
    assert done["status"] == "Completed" and done["closed_at"] is not None and completed == [issue.id]
    remote = gh.issue(gh.login, "app", 1)
    assert remote["state"] == "closed" and remote["state_reason"] == "completed"
    again = await Issue.reopen(issue.id)
    assert again["status"] == "Open" and again["closed_at"] is None
    assert gh.issue(gh.login, "app", 1)["state"] == "open"
    await Issue.close(issue.id)
    assert gh.issue(gh.login, "app", 1)["state_reason"] == "not_planned"

    # The sync afterwards agrees with what the verbs wrote: nothing to change.
    version = (await Issue.get(issue.id)).version
    await Integration.sync(integ.id, wait=True)
    assert (await Issue.get(issue.id)).version == version


async def test_comment_create_writes_through(gh: GitHubSimulator, hub: Hub) -> None:
    integ = await connect(gh)
    await Integration.sync(integ.id, wait=True)
    issue = (await Issue.find({"title": "Crash on start"}))[0]
    comment = await Comment.create(body="Looking into it", issue=issue.id)
    remote = gh.comments(gh.login, "app")[-1]
    assert remote["body"] == "Looking into it"
    assert comment["url"] == remote["html_url"] and comment["author"] == gh.login
    await Integration.sync(integ.id, wait=True)
    assert await Comment.count({"body": "Looking into it"}) == 1


async def test_github_errors_leave_nothing_written(gh: GitHubSimulator, hub: Hub) -> None:
    integ = await connect(gh)
    await Integration.sync(integ.id, wait=True)
    app = (await Project.find({"full_name": f"{gh.login}/app"}))[0]
    before = await Issue.count({})
    gh.fail_next(1, status=502)  # a create is not retried blindly: GitHub has no idempotency keys
    with pytest.raises(ProviderUnavailable):
        await Issue.create(title="Will fail", project=app.id)
    assert await Issue.count({}) == before
    assert len(gh.issues(gh.login, "app")) == 3


async def test_a_5xx_burst_during_sync_is_retried(gh: GitHubSimulator, hub: Hub) -> None:
    integ = await connect(gh)
    gh.fail_next(2, status=502)
    gh.fail_next(1, status=500)
    synced = await Integration.sync(integ.id, wait=True)
    assert synced["status"] == "Synced"
    assert await Issue.count({}) == 4
    assert [r.status for r in gh.requests[1:5]] == [502, 502, 500, 200]


async def test_a_lasting_outage_fails_the_sync_with_its_error(gh: GitHubSimulator, hub: Hub) -> None:
    integ = await connect(gh)
    gh.fail_next(50, status=503)
    with pytest.raises(ProviderUnavailable):
        await Integration.sync(integ.id, wait=True)
    after = await Integration.get(integ.id)
    assert after["status"] == "Connected" and "503" in (after["error"] or "")
    gh.clear_faults()
    assert (await Integration.sync(integ.id, wait=True))["status"] == "Synced"


async def test_a_crashed_sync_resumes_from_the_saved_page(hub: Hub, providers: ProviderRegistry) -> None:
    use_http_client(hub, HttpClient(policy=LOOPBACK, retry=RetryPolicy(attempts=1)))
    async with checked_github() as sim:
        sim.seed_repo(sim.login, "big")
        for i in range(250):
            sim.seed_issue(sim.login, "big", title=f"Issue {i}")
        integ = await Integration.connect(provider="github", token=DEFAULT_TOKEN, api_base_url=sim.url)
        sim.fail_next(1, status=502, when=lambda r: r.path.endswith("/issues") and r.query.get("page") == "3")
        with pytest.raises(ProviderUnavailable):
            await Integration.sync(integ.id, wait=True)
        assert await Issue.count({}) == 200  # two pages committed
        mark = len(sim.requests)
        await Integration.sync(integ.id, wait=True)
        assert await Issue.count({}) == 250
        resumed = [r for r in sim.requests[mark:] if r.path.endswith("/issues")]
        assert resumed[0].query.get("page") == "3"  # not from the start
        assert not sim.mismatches


async def test_closes_and_reopens_on_github_fire_the_issue_verbs_hooks(gh: GitHubSimulator, hub: Hub) -> None:
    integ = await connect(gh)
    await Integration.sync(integ.id, wait=True)
    seen: list[tuple[str, str, str]] = []

    @Issue.completed
    async def completed(entity: Any, ctx: Any) -> None:
        seen.append(("completed", entity["title"], ctx.event.source))

    @on("Issue.Reopened")
    async def reopened(entity: Any, ctx: Any) -> None:
        seen.append(("reopened", entity["title"], ctx.event.source))

    gh.update_issue(gh.login, "app", 1, state="closed", state_reason="completed")
    gh.update_issue(gh.login, "app", 3, state="open")  # "Old idea" was closed as not planned
    await Integration.sync(integ.id, wait=True)
    assert sorted(seen) == [("completed", "Crash on start", "github"), ("reopened", "Old idea", "github")]
    assert (await Issue.find({"title": "Crash on start"}))[0]["status"] == "Completed"
    await Integration.sync(integ.id, wait=True)
    assert len(seen) == 2  # announced once


async def test_secondary_rate_limit_retry_after_is_honoured(gh: GitHubSimulator, hub: Hub) -> None:
    now = [0.0]
    waits: list[float] = []

    async def sleep(seconds: float) -> None:  # a fake clock: the test does not wait 30 s
        waits.append(seconds)
        now[0] += seconds

    use_http_client(hub, HttpClient(policy=LOOPBACK, clock=lambda: now[0], sleep=sleep))
    integ = await connect(gh)
    gh.fail_next(1, status=403, retry_after=30)
    synced = await Integration.sync(integ.id, wait=True)
    assert synced["status"] == "Synced" and 30.0 in waits
    assert [r.status for r in gh.requests[1:3]] == [403, 200]


async def test_exhausted_primary_limit_fails_the_sync_as_rate_limited(hub: Hub, providers: ProviderRegistry) -> None:
    async with checked_github(rate_limit=3) as sim:
        sim.seed_repo(sim.login, "app")
        sim.seed_issue(sim.login, "app", title="a")
        integ = await Integration.connect(provider="github", token=DEFAULT_TOKEN, api_base_url=sim.url)
        with pytest.raises(ProviderRateLimited, match="rate limit"):
            await Integration.sync(integ.id, wait=True)
        after = await Integration.get(integ.id)
        assert after["status"] == "Connected" and "rate limit" in after["error"]
        assert sim.requests[-1].status == 403 and not sim.mismatches


async def test_the_rate_budget_keeps_under_githubs_burst_limit(hub: Hub, providers: ProviderRegistry) -> None:
    # The simulator refuses a 21st request within any second; the connector's budget is 20/s.
    async with checked_github(secondary_limit=20, secondary_window=1.0) as sim:
        for i in range(15):  # 2 list requests per repository: 32 requests in all
            sim.seed_repo(sim.login, f"repo{i}")
            sim.seed_issue(sim.login, f"repo{i}", title=f"Issue {i}")
        integ = await Integration.connect(provider="github", token=DEFAULT_TOKEN, api_base_url=sim.url)
        await Integration.sync(integ.id, wait=True)
        assert await Issue.count({}) == 15
        assert len(sim.requests) == 32 and all(r.status == 200 for r in sim.requests)
        assert not sim.mismatches


async def test_over_rest_connect_sync_and_write_through(gh: GitHubSimulator, hub: Hub) -> None:
    async with rest_client(hub) as c:
        r = await c.post(
            "/v1/integrations/connect", json={"provider": "github", "token": DEFAULT_TOKEN, "apiBaseUrl": gh.url}
        )
        assert r.status_code in (200, 201), r.text
        assert DEFAULT_TOKEN not in r.text
        await Worker(hub).drain()
        issues = (await c.get("/v1/issues", params={"status": "Open"})).json()["data"]
        crash = next(i for i in issues if i["title"] == "Crash on start")
        done = await c.post(f"/v1/issues/{crash['$id']}/complete")
        assert done.status_code == 200, done.text
        assert done.json()["status"] == "Completed"
    assert gh.issue(gh.login, "app", 1)["state"] == "closed"


async def test_a_link_to_another_host_is_not_followed_with_the_token(hub: Hub, providers: ProviderRegistry) -> None:
    async with checked_github() as sim:
        sim.seed_repo(sim.login, "app")
        for i in range(150):
            sim.seed_issue(sim.login, "app", title=f"Issue {i}")
        integ = await Integration.connect(provider="github", token=DEFAULT_TOKEN, api_base_url=sim.url)
        real = sim.url
        sim.url = "http://attacker.invalid"  # the simulator now writes its Link headers to this host
        with pytest.raises(ProviderInvalidRequest, match="outside"):
            await Integration.sync(integ.id, wait=True)
        sim.url = real
        assert await Issue.count({}) == 0  # the page carrying the bad link is refused whole
