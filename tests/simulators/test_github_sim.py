"""The GitHub simulator speaks GitHub's wire format: auth, Link pagination, since, ETags, rate limits, spec checks."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from hubwire.simulators.github import DEFAULT_TOKEN, MISMATCH, GitHubSimulator
from hubwire.simulators.github.spec import GitHubSpec
from tests.simulators.github_fixtures import checked_github, response_problems

AUTH = {"Authorization": f"Bearer {DEFAULT_TOKEN}", "Accept": "application/vnd.github+json"}
LINK = re.compile(r'<([^>]+)>; rel="(\w+)"')


def links(resp: httpx.Response) -> dict[str, str]:
    return {rel: url for url, rel in LINK.findall(resp.headers.get("Link", ""))}


async def walk(client: httpx.AsyncClient, url: str, **params: Any) -> tuple[list[dict[str, Any]], int]:
    items: list[dict[str, Any]] = []
    pages = 0
    next_url: str | None = url
    while next_url:
        resp = await client.get(next_url, params=params if pages == 0 else None, headers=AUTH)
        assert resp.status_code == 200, resp.text
        items += resp.json()
        pages += 1
        next_url = links(resp).get("next")
    return items, pages


async def test_bad_and_missing_credentials_get_401(github_sim: GitHubSimulator) -> None:
    async with httpx.AsyncClient(base_url=github_sim.url) as c:
        bad = await c.get("/user", headers={"Authorization": "Bearer ghp_wrong"})
        none = await c.get("/user")
        ok = await c.get("/user", headers={"Authorization": f"token {DEFAULT_TOKEN}"})
    assert bad.status_code == none.status_code == 401
    assert bad.json()["message"] == "Bad credentials" and "documentation_url" in bad.json()
    assert ok.status_code == 200 and ok.json()["login"] == github_sim.login


async def test_link_pagination_walks_every_issue_exactly_once(github_sim: GitHubSimulator) -> None:
    github_sim.seed_repo("acme", "web")
    seeded = [github_sim.seed_issue("acme", "web", title=f"Issue {i}")["number"] for i in range(14)]
    async with httpx.AsyncClient(base_url=github_sim.url) as c:
        first = await c.get("/repos/acme/web/issues", params={"per_page": 3}, headers=AUTH)
        rels = links(first)
        assert set(rels) == {"next", "last"}
        assert rels["next"].endswith("?per_page=3&page=2") and rels["last"].endswith("?per_page=3&page=5")
        items, pages = await walk(c, "/repos/acme/web/issues", per_page=3)
        middle = await c.get("/repos/acme/web/issues", params={"per_page": 3, "page": 3}, headers=AUTH)
    assert pages == 5
    numbers = [i["number"] for i in items]
    assert sorted(numbers) == sorted(seeded) and len(set(numbers)) == len(numbers)
    assert numbers == sorted(numbers, reverse=True)  # default sort: created, newest first
    assert set(links(middle)) == {"prev", "next", "last", "first"}


async def test_per_page_defaults_to_30_and_caps_at_100(github_sim: GitHubSimulator) -> None:
    github_sim.seed_repo("acme", "big")
    for i in range(105):
        github_sim.seed_issue("acme", "big", title=f"t{i}")
    async with httpx.AsyncClient(base_url=github_sim.url) as c:
        default = await c.get("/repos/acme/big/issues", headers=AUTH)
        capped = await c.get("/repos/acme/big/issues", params={"per_page": 500}, headers=AUTH)
    assert len(default.json()) == 30
    assert len(capped.json()) == 100


async def test_pull_requests_are_listed_with_a_pull_request_key(github_sim: GitHubSimulator) -> None:
    github_sim.seed_repo("acme", "web")
    github_sim.seed_issue("acme", "web", title="bug")
    github_sim.seed_issue("acme", "web", title="fix", is_pull_request=True)
    async with httpx.AsyncClient(base_url=github_sim.url) as c:
        items = (await c.get("/repos/acme/web/issues", headers=AUTH)).json()
    by_title = {i["title"]: i for i in items}
    assert "pull_request" in by_title["fix"] and "pull_request" not in by_title["bug"]


async def test_state_and_since_filter_issues(github_sim: GitHubSimulator) -> None:
    github_sim.seed_repo("acme", "web")
    for i in range(4):
        github_sim.seed_issue("acme", "web", title=f"t{i}")
    github_sim.seed_issue("acme", "web", title="done", state="closed")
    cutoff = max(i["updated_at"] for i in github_sim.issues("acme", "web"))
    changed = github_sim.update_issue("acme", "web", 2, title="t1 renamed")
    assert changed["updated_at"] > cutoff
    async with httpx.AsyncClient(base_url=github_sim.url) as c:
        open_ = (await c.get("/repos/acme/web/issues", headers=AUTH)).json()
        all_ = (await c.get("/repos/acme/web/issues", params={"state": "all"}, headers=AUTH)).json()
        later = (
            await c.get(
                "/repos/acme/web/issues",
                params={"state": "all", "since": changed["updated_at"], "sort": "updated", "direction": "asc"},
                headers=AUTH,
            )
        ).json()
    assert len(open_) == 4 and len(all_) == 5
    assert [i["number"] for i in later] == [2]


async def test_comments_since_and_per_issue(github_sim: GitHubSimulator) -> None:
    github_sim.seed_repo("acme", "web")
    github_sim.seed_issue("acme", "web", title="a")
    github_sim.seed_issue("acme", "web", title="b")
    c1 = github_sim.seed_comment("acme", "web", 1, body="first")
    c2 = github_sim.seed_comment("acme", "web", 2, body="second")
    async with httpx.AsyncClient(base_url=github_sim.url) as c:
        everything = (await c.get("/repos/acme/web/issues/comments", headers=AUTH)).json()
        newer = (
            await c.get("/repos/acme/web/issues/comments", params={"since": c2["updated_at"]}, headers=AUTH)
        ).json()
        on_one = (await c.get("/repos/acme/web/issues/1/comments", headers=AUTH)).json()
        created = await c.post("/repos/acme/web/issues/1/comments", json={"body": "third"}, headers=AUTH)
    assert [x["id"] for x in everything] == [c1["id"], c2["id"]]
    assert [x["id"] for x in newer] == [c2["id"]]
    assert [x["body"] for x in on_one] == ["first"]
    assert created.status_code == 201 and created.json()["issue_url"].endswith("/repos/acme/web/issues/1")
    assert github_sim.issue("acme", "web", 1)["comments"] == 2


async def test_create_and_update_issue(github_sim: GitHubSimulator) -> None:
    github_sim.seed_repo("acme", "web")
    async with httpx.AsyncClient(base_url=github_sim.url) as c:
        created = await c.post(
            "/repos/acme/web/issues", json={"title": "Add dark mode", "body": "please", "labels": ["ui"]}, headers=AUTH
        )
        n = created.json()["number"]
        closed = await c.patch(
            f"/repos/acme/web/issues/{n}", json={"state": "closed", "state_reason": "completed"}, headers=AUTH
        )
        reopened = await c.patch(f"/repos/acme/web/issues/{n}", json={"state": "open"}, headers=AUTH)
        missing = await c.patch("/repos/acme/web/issues/999", json={"state": "open"}, headers=AUTH)
    assert created.status_code == 201
    assert created.headers["Location"] == f"{github_sim.url}/repos/acme/web/issues/{n}"
    assert created.json()["labels"][0]["name"] == "ui"
    assert closed.json()["state"] == "closed" and closed.json()["closed_at"] is not None
    assert closed.json()["state_reason"] == "completed"
    assert reopened.json()["state"] == "open" and reopened.json()["state_reason"] == "reopened"
    assert missing.status_code == 404 and missing.json()["message"] == "Not Found"


async def test_blank_title_gets_githubs_422_body(github_sim: GitHubSimulator) -> None:
    github_sim.seed_repo("acme", "web")
    async with httpx.AsyncClient(base_url=github_sim.url) as c:
        resp = await c.post("/repos/acme/web/issues", json={"title": "  "}, headers=AUTH)
    assert resp.status_code == 422
    body = resp.json()
    assert body["message"] == "Validation Failed"
    assert body["errors"] == [{"resource": "Issue", "code": "missing_field", "field": "title"}]


async def test_etag_gives_304_that_does_not_count_against_the_limit(github_sim: GitHubSimulator) -> None:
    github_sim.seed_repo("acme", "web")
    github_sim.seed_issue("acme", "web", title="a")
    async with httpx.AsyncClient(base_url=github_sim.url) as c:
        first = await c.get("/repos/acme/web/issues", headers=AUTH)
        etag = first.headers["ETag"]
        used = int(first.headers["X-RateLimit-Used"])
        again = await c.get("/repos/acme/web/issues", headers={**AUTH, "If-None-Match": etag})
        github_sim.update_issue("acme", "web", 1, title="b")
        changed = await c.get("/repos/acme/web/issues", headers={**AUTH, "If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert int(again.headers["X-RateLimit-Used"]) == used  # not counted
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    assert int(changed.headers["X-RateLimit-Used"]) == used + 1


async def test_primary_rate_limit_headers_and_exhaustion() -> None:
    async with checked_github(rate_limit=3) as sim, httpx.AsyncClient(base_url=sim.url) as c:
        resps = [await c.get("/user", headers=AUTH) for _ in range(4)]
    assert [r.status_code for r in resps] == [200, 200, 200, 403]
    assert [r.headers["X-RateLimit-Remaining"] for r in resps] == ["2", "1", "0", "0"]
    assert resps[0].headers["X-RateLimit-Limit"] == "3" and resps[0].headers["X-RateLimit-Resource"] == "core"
    reset = int(resps[0].headers["X-RateLimit-Reset"])
    assert reset > 1_600_000_000 and reset < 10_000_000_000  # epoch seconds, not milliseconds
    assert "API rate limit exceeded" in resps[3].json()["message"]


async def test_secondary_rate_limit_answers_403_with_retry_after() -> None:
    async with checked_github(secondary_limit=2, secondary_window=30) as sim, httpx.AsyncClient(base_url=sim.url) as c:
        resps = [await c.get("/user", headers=AUTH) for _ in range(3)]
    assert [r.status_code for r in resps] == [200, 200, 403]
    assert resps[2].headers["Retry-After"] == "30"
    assert "secondary rate limit" in resps[2].json()["message"]


async def test_fail_next_injects_faults_then_recovers(github_sim: GitHubSimulator) -> None:
    github_sim.fail_next(2, status=502)
    github_sim.fail_next(1, status=429, retry_after=2)
    async with httpx.AsyncClient(base_url=github_sim.url) as c:
        statuses = [(await c.get("/user", headers=AUTH)) for _ in range(4)]
    assert [r.status_code for r in statuses] == [502, 502, 429, 200]
    assert statuses[2].headers["Retry-After"] == "2"
    assert [r.status for r in github_sim.requests_to("GET", "/user")] == [502, 502, 429, 200]


async def test_unknown_repo_is_githubs_404(github_sim: GitHubSimulator) -> None:
    async with httpx.AsyncClient(base_url=github_sim.url) as c:
        resp = await c.get("/repos/acme/nothing", headers=AUTH)
    assert resp.status_code == 404 and resp.json()["message"] == "Not Found"


async def test_user_repos_filters_and_paginates(github_sim: GitHubSimulator) -> None:
    github_sim.seed_repo(github_sim.login, "mine")
    github_sim.seed_repo("acme", "theirs", private=True)
    github_sim.seed_repo("acme", "open-source")
    async with httpx.AsyncClient(base_url=github_sim.url) as c:
        names, pages = await walk(c, "/user/repos", per_page=2)
        owned = (await c.get("/user/repos", params={"affiliation": "owner"}, headers=AUTH)).json()
        private = (await c.get("/user/repos", params={"visibility": "private"}, headers=AUTH)).json()
    assert pages == 2
    assert [r["full_name"] for r in names] == ["acme/open-source", "acme/theirs", f"{github_sim.login}/mine"]
    assert [r["name"] for r in owned] == ["mine"]
    assert [r["name"] for r in private] == ["theirs"]


async def test_pull_requests_list_get_and_merged(github_sim: GitHubSimulator) -> None:
    sim = github_sim
    sim.seed_repo("acme", "web")
    sim.seed_issue("acme", "web", title="an issue")
    sim.seed_issue("acme", "web", title="open pr", is_pull_request=True)
    sim.seed_issue("acme", "web", title="merged pr", merged=True)
    sim.seed_issue("acme", "web", title="closed pr", is_pull_request=True, state="closed")
    async with httpx.AsyncClient(base_url=sim.url, headers=AUTH) as c:
        open_ = (await c.get("/repos/acme/web/pulls")).json()
        every = (await c.get("/repos/acme/web/pulls", params={"state": "all", "direction": "asc"})).json()
        closed = (await c.get("/repos/acme/web/pulls", params={"state": "closed", "per_page": 1})).json()
        merged = (await c.get("/repos/acme/web/pulls/3")).json()
        not_a_pull = await c.get("/repos/acme/web/pulls/1")
        sim.update_issue("acme", "web", 2, merged=True)
        now_merged = (await c.get("/repos/acme/web/pulls/2")).json()
        issue = (await c.get("/repos/acme/web/issues/2")).json()
    assert [p["title"] for p in open_] == ["open pr"]
    assert [p["number"] for p in every] == [2, 3, 4]
    assert [p["title"] for p in closed] == ["closed pr"]  # newest first
    assert (merged["merged"], merged["state"], merged["merged_at"] == merged["closed_at"]) == (True, "closed", True)
    assert merged["merge_commit_sha"] and merged["base"]["ref"] == "main"
    assert every[2]["merged_at"] is None and every[1]["merged_at"] == merged["merged_at"]
    assert not_a_pull.status_code == 404
    assert now_merged["merged"] is True and now_merged["state"] == "closed"
    assert issue["pull_request"]["merged_at"] == now_merged["merged_at"] and issue["state"] == "closed"


# spec checks ------------------------------------------------------------------------------


async def test_wrong_requests_are_recorded_as_spec_mismatches(github_spec_checked: GitHubSpec) -> None:
    async with GitHubSimulator() as sim, httpx.AsyncClient(base_url=sim.url) as c:
        sim.seed_repo("acme", "web")
        misspelt = await c.get("/repos/acme/web/issues", params={"perpage": 3}, headers=AUTH)
        bad_enum = await c.get("/repos/acme/web/issues", params={"state": "opened"}, headers=AUTH)
        no_title = await c.post("/repos/acme/web/issues", json={"body": "x"}, headers=AUTH)
        fine = await c.get("/repos/acme/web/issues", params={"per_page": 3}, headers=AUTH)
    assert [r.status_code for r in (misspelt, bad_enum, no_title)] == [400, 400, 400]
    assert all(r.json()["message"].startswith(MISMATCH) for r in (misspelt, bad_enum, no_title))
    assert fine.status_code == 200
    assert len(sim.mismatches) == 3
    assert "perpage" in sim.mismatches[0] and "state" in sim.mismatches[1] and "title" in sim.mismatches[2]


async def test_responses_validate_against_githubs_description(
    github_sim: GitHubSimulator, github_spec_checked: GitHubSpec
) -> None:
    github_sim.seed_repo(github_sim.login, "mine", description="d", topics=["x"])
    github_sim.seed_issue(github_sim.login, "mine", title="a", labels=["bug"], assignees=[github_sim.login])
    github_sim.seed_issue(github_sim.login, "mine", title="pr", is_pull_request=True, state="closed")
    github_sim.seed_issue(github_sim.login, "mine", title="merged", merged=True)
    github_sim.seed_comment(github_sim.login, "mine", 1, body="hello")
    base = f"/repos/{github_sim.login}/mine"
    calls: list[tuple[str, str, dict[str, Any], Any]] = [
        ("GET", "/user", {}, None),
        ("GET", "/user/repos", {"per_page": "1"}, None),
        ("GET", base, {}, None),
        ("GET", f"{base}/issues", {"state": "all"}, None),
        ("GET", f"{base}/issues/1", {}, None),
        ("GET", f"{base}/issues/comments", {}, None),
        ("GET", f"{base}/pulls", {"state": "all", "sort": "updated"}, None),
        ("GET", f"{base}/pulls/2", {}, None),
        ("GET", f"{base}/pulls/3", {}, None),
        ("GET", f"{base}/issues/1/comments", {}, None),
        ("POST", f"{base}/issues", {}, {"title": "new", "labels": ["ui"]}),
        ("PATCH", f"{base}/issues/1", {}, {"state": "closed", "state_reason": "not_planned"}),
        ("POST", f"{base}/issues/1/comments", {}, {"body": "hi"}),
    ]
    async with httpx.AsyncClient(base_url=github_sim.url) as c:
        for method, path, params, body in calls:
            resp = await c.request(method, path, params=params, json=body, headers=AUTH)
            assert resp.status_code in (200, 201), resp.text
            assert response_problems(github_spec_checked, resp) == [], (method, path)


async def test_error_responses_validate_against_githubs_description(
    github_sim: GitHubSimulator, github_spec_checked: GitHubSpec
) -> None:
    github_sim.seed_repo("acme", "web")
    github_sim.seed_issue("acme", "web", title="an issue")
    base = "/repos/acme/web"
    calls: list[tuple[str, str, Any, int]] = [
        ("GET", "/repos/acme/missing", None, 404),
        ("PATCH", f"{base}/issues/99", {"state": "open"}, 404),
        ("POST", f"{base}/issues", {"title": " "}, 422),
        ("GET", f"{base}/issues/99/comments", None, 404),
        ("GET", f"{base}/pulls/1", None, 404),  # an issue, not a pull request
    ]
    async with httpx.AsyncClient(base_url=github_sim.url) as c:
        for method, path, body, status in calls:
            resp = await c.request(method, path, json=body, headers=AUTH)
            assert resp.status_code == status, resp.text
            assert response_problems(github_spec_checked, resp) == [], (method, path)


async def test_githubs_own_sdk_works_against_the_simulator(github_sim: GitHubSimulator) -> None:
    """githubkit (GitHub's typed SDK) parses every answer with its pydantic models of GitHub's schemas."""
    githubkit = pytest.importorskip("githubkit", reason="githubkit (dev extra) is not installed")
    sim = github_sim
    sim.seed_repo(sim.login, "app", description="x")
    for i in range(5):
        sim.seed_issue(sim.login, "app", title=f"t{i}", labels=["bug"], assignees=[sim.login])
    sim.seed_issue(sim.login, "app", title="pr", is_pull_request=True)
    sim.seed_comment(sim.login, "app", 1, body="hi")
    gh = githubkit.GitHub(DEFAULT_TOKEN, base_url=sim.url + "/")
    rest = gh.rest
    me = (await rest.users.async_get_authenticated()).parsed_data
    assert me.login == sim.login
    assert (await rest.repos.async_get(sim.login, "app")).parsed_data.full_name == f"{sim.login}/app"
    issues = [
        i
        async for i in rest.paginate(
            rest.issues.async_list_for_repo, owner=sim.login, repo="app", per_page=2, state="all"
        )
    ]
    assert sorted(i.number for i in issues) == [1, 2, 3, 4, 5, 6]
    assert [i.number for i in issues if i.pull_request] == [6]
    created = (await rest.issues.async_create(sim.login, "app", title="new", body="b")).parsed_data
    closed = (
        await rest.issues.async_update(sim.login, "app", created.number, state="closed", state_reason="completed")
    ).parsed_data
    assert (closed.state, closed.state_reason) == ("closed", "completed")
    await rest.issues.async_create_comment(sim.login, "app", 1, body="yo")
    comments = [c async for c in rest.paginate(rest.issues.async_list_comments_for_repo, owner=sim.login, repo="app")]
    assert [c.body for c in comments] == ["hi", "yo"]
    repos = [r async for r in rest.paginate(rest.repos.async_list_for_authenticated_user)]
    assert [r.name for r in repos] == ["app"]


async def test_keep_requests_bounds_the_record() -> None:
    async with checked_github(keep_requests=3) as sim, httpx.AsyncClient(base_url=sim.url) as c:
        for _ in range(5):
            await c.get("/user", headers=AUTH)
        await c.get("/user/repos", headers=AUTH)
    assert [r.path for r in sim.requests] == ["/user", "/user", "/user/repos"]


async def test_a_response_is_judged_by_its_own_operation(
    github_sim: GitHubSimulator, github_spec_checked: GitHubSpec
) -> None:
    github_sim.seed_repo("acme", "web")
    github_sim.seed_issue("acme", "web", title="a")
    async with httpx.AsyncClient(base_url=github_sim.url) as c:
        issue = await c.get("/repos/acme/web/issues/1", headers=AUTH)
        issues = await c.get("/repos/acme/web/issues", headers=AUTH)
    assert response_problems(github_spec_checked, issue) == []
    assert response_problems(github_spec_checked, issues) == []
    # The same bodies judged by another operation do not pass: the check tells operations apart.
    one = issue.request
    assert github_spec_checked.check_response("GET", "/repos/acme/web/issues", [], 200, issue.content, issue.headers)
    assert github_spec_checked.check_response(one.method, "/user", [], 200, issue.content, dict(issue.headers))


@pytest.mark.slow
@pytest.mark.parametrize(("ci", "outcome", "exit_code"), [("true", "error", 1), ("false", "skipped", 0)])
def test_github_spec_checks_fail_under_ci_when_the_specs_are_missing(
    tmp_path: Path, ci: str, outcome: str, exit_code: int
) -> None:
    test = "tests/simulators/test_github_sim.py::test_wrong_requests_are_recorded_as_spec_mismatches"
    env = {**os.environ, "CI": ci, "HUBWIRE_SPECS_DIR": str(tmp_path)}  # a folder without GitHub's description
    run = subprocess.run(
        [sys.executable, "-m", "pytest", test, "-q", "-rs", "-p", "no:randomly", "-p", "no:cacheprovider", "-n", "0"],
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert f"1 {outcome}" in run.stdout and run.returncode == exit_code, run.stdout[-2000:]
    assert f"github/api.github.com.json is absent from {tmp_path}" in run.stdout
