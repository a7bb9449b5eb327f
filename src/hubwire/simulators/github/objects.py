"""The JSON shapes the GitHub simulator serves: users, repositories, issues, pull requests, labels, comments.

Copied field for field from real GitHub responses (the recorded ``@octokit/fixtures`` scenarios
``get-repository`` and ``paginate-issues``; comments and the authenticated user from the
``issue-comment`` and ``private-user`` schemas of GitHub's description), with ids, names, URLs
and timestamps filled in. The simulator suite validates them against the description, so these
builders cannot drift from the wire format. Pure functions: no state, no I/O.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "comment_json",
    "iso",
    "issue_json",
    "label_json",
    "node_id",
    "private_user_json",
    "pull_json",
    "repo_json",
    "user_json",
]

API = "https://api.github.com"
WEB = "https://github.com"


def iso(ts: float) -> str:
    """GitHub's timestamp format: ``2017-10-10T16:00:00Z`` (whole seconds, UTC)."""
    return datetime.fromtimestamp(int(ts), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def node_id(kind: str, ident: int) -> str:
    return base64.b64encode(f"0:{kind}{ident}".encode()).decode()


def user_json(login: str, ident: int, *, kind: str = "User") -> dict[str, Any]:
    u = f"{API}/users/{login}"
    return {
        "login": login,
        "id": ident,
        "node_id": node_id(kind, ident),
        "avatar_url": f"https://avatars.githubusercontent.com/u/{ident}?v=4",
        "gravatar_id": "",
        "url": u,
        "html_url": f"{WEB}/{login}",
        "followers_url": f"{u}/followers",
        "following_url": f"{u}/following{{/other_user}}",
        "gists_url": f"{u}/gists{{/gist_id}}",
        "starred_url": f"{u}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{u}/subscriptions",
        "organizations_url": f"{u}/orgs",
        "repos_url": f"{u}/repos",
        "events_url": f"{u}/events{{/privacy}}",
        "received_events_url": f"{u}/received_events",
        "type": kind,
        "site_admin": False,
    }


def private_user_json(login: str, ident: int, *, name: str | None, created: float, repos: int) -> dict[str, Any]:
    """``GET /user``: the authenticated user (the ``private-user`` schema)."""
    return {
        **user_json(login, ident),
        "user_view_type": "private",  # the discriminator of GET /user's oneOf (private vs public user)
        "name": name,
        "company": None,
        "blog": "",
        "location": None,
        "email": None,
        "hireable": None,
        "bio": None,
        "twitter_username": None,
        "public_repos": repos,
        "public_gists": 0,
        "followers": 0,
        "following": 0,
        "created_at": iso(created),
        "updated_at": iso(created),
        "private_gists": 0,
        "total_private_repos": 0,
        "owned_private_repos": 0,
        "disk_usage": 0,
        "collaborators": 0,
        "two_factor_authentication": True,
        "plan": {"name": "free", "space": 976562499, "collaborators": 0, "private_repos": 10000},
    }


def repo_json(
    ident: int,
    owner: dict[str, Any],
    name: str,
    *,
    description: str | None,
    private: bool,
    default_branch: str,
    created: float,
    updated: float,
    open_issues: int,
    topics: list[str],
) -> dict[str, Any]:
    full = f"{owner['login']}/{name}"
    u = f"{API}/repos/{full}"
    out: dict[str, Any] = {
        "id": ident,
        "node_id": node_id("Repository", ident),
        "name": name,
        "full_name": full,
        "private": private,
        "owner": owner,
        "html_url": f"{WEB}/{full}",
        "description": description,
        "fork": False,
        "url": u,
    }
    for key, suffix in _REPO_URLS:
        out[key] = u + suffix
    out.update(
        {
            "created_at": iso(created),
            "updated_at": iso(updated),
            "pushed_at": iso(updated),
            "git_url": f"git://github.com/{full}.git",
            "ssh_url": f"git@github.com:{full}.git",
            "clone_url": f"{WEB}/{full}.git",
            "svn_url": f"{WEB}/{full}",
            "homepage": None,
            "size": 0,
            "stargazers_count": 0,
            "watchers_count": 0,
            "language": None,
            "has_issues": True,
            "has_projects": True,
            "has_downloads": True,
            "has_wiki": True,
            "has_pages": False,
            "forks_count": 0,
            "mirror_url": None,
            "archived": False,
            "disabled": False,
            "open_issues_count": open_issues,
            "license": None,
            "allow_forking": True,
            "is_template": False,
            "web_commit_signoff_required": False,
            "topics": list(topics),
            "visibility": "private" if private else "public",
            "forks": 0,
            "open_issues": open_issues,
            "watchers": 0,
            "default_branch": default_branch,
            "permissions": {"admin": True, "maintain": True, "push": True, "triage": True, "pull": True},
        }
    )
    return out


_REPO_URLS = (
    ("forks_url", "/forks"),
    ("keys_url", "/keys{/key_id}"),
    ("collaborators_url", "/collaborators{/collaborator}"),
    ("teams_url", "/teams"),
    ("hooks_url", "/hooks"),
    ("issue_events_url", "/issues/events{/number}"),
    ("events_url", "/events"),
    ("assignees_url", "/assignees{/user}"),
    ("branches_url", "/branches{/branch}"),
    ("tags_url", "/tags"),
    ("blobs_url", "/git/blobs{/sha}"),
    ("git_tags_url", "/git/tags{/sha}"),
    ("git_refs_url", "/git/refs{/sha}"),
    ("trees_url", "/git/trees{/sha}"),
    ("statuses_url", "/statuses/{sha}"),
    ("languages_url", "/languages"),
    ("stargazers_url", "/stargazers"),
    ("contributors_url", "/contributors"),
    ("subscribers_url", "/subscribers"),
    ("subscription_url", "/subscription"),
    ("commits_url", "/commits{/sha}"),
    ("git_commits_url", "/git/commits{/sha}"),
    ("comments_url", "/comments{/number}"),
    ("issue_comment_url", "/issues/comments{/number}"),
    ("contents_url", "/contents/{+path}"),
    ("compare_url", "/compare/{base}...{head}"),
    ("merges_url", "/merges"),
    ("archive_url", "/{archive_format}{/ref}"),
    ("downloads_url", "/downloads"),
    ("issues_url", "/issues{/number}"),
    ("pulls_url", "/pulls{/number}"),
    ("milestones_url", "/milestones{/number}"),
    ("notifications_url", "/notifications{?since,all,participating}"),
    ("labels_url", "/labels{/name}"),
    ("releases_url", "/releases{/id}"),
    ("deployments_url", "/deployments"),
)


def label_json(full_name: str, ident: int, name: str) -> dict[str, Any]:
    return {
        "id": ident,
        "node_id": node_id("Label", ident),
        "url": f"{API}/repos/{full_name}/labels/{name}",
        "name": name,
        "color": "ededed",
        "default": False,
        "description": None,
    }


def _reactions(url: str) -> dict[str, Any]:
    return {
        "url": url + "/reactions",
        "total_count": 0,
        "+1": 0,
        "-1": 0,
        "laugh": 0,
        "hooray": 0,
        "confused": 0,
        "heart": 0,
        "rocket": 0,
        "eyes": 0,
    }


def issue_json(
    ident: int,
    full_name: str,
    number: int,
    *,
    title: str,
    body: str | None,
    user: dict[str, Any],
    state: str,
    state_reason: str | None,
    labels: list[dict[str, Any]],
    assignees: list[dict[str, Any]],
    comments: int,
    created: float,
    updated: float,
    closed: float | None,
    closed_by: dict[str, Any] | None,
    pull_request: bool,
) -> dict[str, Any]:
    u = f"{API}/repos/{full_name}/issues/{number}"
    kind = "pull" if pull_request else "issues"
    out: dict[str, Any] = {
        "url": u,
        "repository_url": f"{API}/repos/{full_name}",
        "labels_url": u + "/labels{/name}",
        "comments_url": u + "/comments",
        "events_url": u + "/events",
        "html_url": f"{WEB}/{full_name}/{kind}/{number}",
        "id": ident,
        "node_id": node_id("PullRequest" if pull_request else "Issue", ident),
        "number": number,
        "title": title,
        "user": user,
        "labels": labels,
        "state": state,
        "locked": False,
        "assignee": assignees[0] if assignees else None,
        "assignees": assignees,
        "milestone": None,
        "comments": comments,
        "created_at": iso(created),
        "updated_at": iso(updated),
        "closed_at": iso(closed) if closed is not None else None,
        "author_association": "OWNER",
        "active_lock_reason": None,
        "body": body,
        "reactions": _reactions(u),
        "timeline_url": u + "/timeline",
        "performed_via_github_app": None,
        "state_reason": state_reason,
    }
    if closed_by is not None:
        out["closed_by"] = closed_by
    if pull_request:
        p = f"{API}/repos/{full_name}/pulls/{number}"
        out["draft"] = False
        out["pull_request"] = {
            "url": p,
            "html_url": f"{WEB}/{full_name}/pull/{number}",
            "diff_url": f"{WEB}/{full_name}/pull/{number}.diff",
            "patch_url": f"{WEB}/{full_name}/pull/{number}.patch",
            "merged_at": None,
        }
    return out


def pull_json(issue: dict[str, Any], repo: dict[str, Any], *, full: bool) -> dict[str, Any]:
    """The pull request behind a pull-request issue: ``pull-request-simple`` (a list item) or, with
    ``full``, ``pull-request`` (``GET .../pulls/{n}``). Its state and ``merged_at`` are the issue's."""
    full_name, number = repo["full_name"], issue["number"]
    u = f"{API}/repos/{full_name}/pulls/{number}"
    web_url = f"{WEB}/{full_name}/pull/{number}"
    merged_at = issue["pull_request"]["merged_at"]
    sha = hashlib.sha1(f"{full_name}#{number}".encode()).hexdigest()  # a stand-in commit id, not security

    def branch(ref: str) -> dict[str, Any]:
        return {"label": f"{repo['owner']['login']}:{ref}", "ref": ref, "repo": repo, "sha": sha, "user": repo["owner"]}

    links = {
        "self": u,
        "html": web_url,
        "issue": issue["url"],
        "comments": issue["comments_url"],
        "review_comments": u + "/comments",
        "review_comment": f"{API}/repos/{full_name}/pulls/comments{{/number}}",
        "commits": u + "/commits",
        "statuses": f"{API}/repos/{full_name}/statuses/{sha}",
    }
    out: dict[str, Any] = {
        "url": u,
        "id": issue["id"],
        "node_id": issue["node_id"],
        "html_url": web_url,
        "diff_url": web_url + ".diff",
        "patch_url": web_url + ".patch",
        "issue_url": issue["url"],
        "commits_url": links["commits"],
        "review_comments_url": links["review_comments"],
        "review_comment_url": links["review_comment"],
        "comments_url": issue["comments_url"],
        "statuses_url": links["statuses"],
        "number": number,
        "state": issue["state"],
        "locked": issue["locked"],
        "title": issue["title"],
        "user": issue["user"],
        "body": issue["body"],
        "labels": issue["labels"],
        "milestone": None,
        "active_lock_reason": None,
        "created_at": issue["created_at"],
        "updated_at": issue["updated_at"],
        "closed_at": issue["closed_at"],
        "merged_at": merged_at,
        "merge_commit_sha": sha if merged_at else None,
        "assignee": issue["assignee"],
        "assignees": issue["assignees"],
        "requested_reviewers": [],
        "requested_teams": [],
        "head": branch(f"feature-{number}"),
        "base": branch(repo["default_branch"]),
        "_links": {k: {"href": v} for k, v in links.items()},
        "author_association": issue["author_association"],
        "auto_merge": None,
        "draft": issue.get("draft", False),
    }
    if full:
        out.update(
            merged=merged_at is not None,
            mergeable=None if issue["state"] == "closed" else True,
            rebaseable=None if issue["state"] == "closed" else True,
            mergeable_state="unknown" if issue["state"] == "closed" else "clean",
            merged_by=issue.get("closed_by") if merged_at else None,
            comments=issue["comments"],
            review_comments=0,
            maintainer_can_modify=False,
            commits=1,
            additions=1,
            deletions=0,
            changed_files=1,
        )
    return out


def comment_json(
    ident: int,
    full_name: str,
    number: int,
    *,
    body: str,
    user: dict[str, Any],
    created: float,
    updated: float,
    pull_request: bool,
) -> dict[str, Any]:
    u = f"{API}/repos/{full_name}/issues/comments/{ident}"
    kind = "pull" if pull_request else "issues"
    return {
        "url": u,
        "html_url": f"{WEB}/{full_name}/{kind}/{number}#issuecomment-{ident}",
        "issue_url": f"{API}/repos/{full_name}/issues/{number}",
        "id": ident,
        "node_id": node_id("IssueComment", ident),
        "user": user,
        "created_at": iso(created),
        "updated_at": iso(updated),
        "author_association": "OWNER",
        "body": body,
        "reactions": _reactions(u),
        "performed_via_github_app": None,
    }
