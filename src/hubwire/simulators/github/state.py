"""The GitHub simulator's data: users, repositories, issues (and pull requests), labels, comments.

Owns the in-memory objects and every change to them (seeding by tests, and what the simulator's
handlers do on behalf of requests), with GitHub's rules: issue numbers per repository shared with
pull requests, ``updated_at`` moving on each change (and on a new comment), ``closed_at`` and
``state_reason`` following the state, open-issue counters. Every change is also announced as the
webhook event GitHub would send (``issues`` / ``pull_request`` / ``issue_comment`` and its
``action``) through :meth:`GitHubState.emit`, which the server delivers to the repository's hooks.
No HTTP here: see :mod:`hubwire.simulators.github.server`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from hubwire.simulators.github import objects as gh

__all__ = ["GitHubState", "Repo"]


@dataclass
class Repo:
    json: dict[str, Any]
    issues: dict[int, dict[str, Any]] = field(default_factory=dict)
    comments: list[dict[str, Any]] = field(default_factory=list)
    labels: dict[str, dict[str, Any]] = field(default_factory=dict)
    next_number: int = 1
    hooks: dict[int, dict[str, Any]] = field(default_factory=dict)  # id -> hook (config.secret kept)


class GitHubState:
    """The data a :class:`~hubwire.simulators.github.server.GitHubSimulator` serves, and its mutations."""

    def __init__(self, login: str) -> None:
        self.login = login
        self._repos: dict[str, Repo] = {}
        self._owners: dict[str, dict[str, Any]] = {}
        self._ids = 1000
        self._last_ts = 0
        self._created = time.time()
        self.user = gh.user_json(login, 1)
        self._owners[login.lower()] = self.user

    # seeding and inspection (for tests) -------------------------------------------------
    def seed_repo(self, owner: str, name: str, **fields: Any) -> dict[str, Any]:
        """Add a repository (``description``, ``private``, ``default_branch``, ``topics``)."""
        now = self._tick()
        owner_json = self._owner(owner)
        repo = Repo(
            gh.repo_json(
                self._next_id(),
                owner_json,
                name,
                description=fields.get("description"),
                private=bool(fields.get("private", False)),
                default_branch=fields.get("default_branch", "main"),
                created=now,
                updated=now,
                open_issues=0,
                topics=list(fields.get("topics", [])),
            )
        )
        self._repos[f"{owner}/{name}".lower()] = repo
        return repo.json

    def seed_issue(self, owner: str, repo: str, **fields: Any) -> dict[str, Any]:
        """Add an issue (``title``, ``body``, ``state``, ``labels``, ``assignees``, ``is_pull_request``;
        ``merged=True`` adds a pull request closed by merging it)."""
        return self._new_issue(self._seeded(owner, repo), fields, self.user)

    def seed_comment(self, owner: str, repo: str, number: int, **fields: Any) -> dict[str, Any]:
        r = self._seeded(owner, repo)
        return self._new_comment(r, r.issues[number], fields.get("body", "A comment"), self.user)

    def update_issue(self, owner: str, repo: str, number: int, **fields: Any) -> dict[str, Any]:
        """Change an issue as someone on github.com would (``updated_at`` moves forward);
        ``merged=True`` merges a pull request (and closes it)."""
        r = self._seeded(owner, repo)
        return self._patch_issue(r, r.issues[number], fields)

    def delete_issue(self, owner: str, repo: str, number: int) -> dict[str, Any]:
        """Delete an issue as an admin on github.com would (the REST API cannot): ``issues.deleted``."""
        r = self._seeded(owner, repo)
        issue = r.issues.pop(number)
        r.comments = [c for c in r.comments if not c["issue_url"].endswith(f"/issues/{number}")]
        self._count_open(r)
        self.emit(r, "issues", "deleted", issue=issue)
        return issue

    def update_comment(self, owner: str, repo: str, comment_id: int, body: str) -> dict[str, Any]:
        r = self._seeded(owner, repo)
        comment = next(c for c in r.comments if c["id"] == comment_id)
        previous = comment["body"]
        comment.update(body=body, updated_at=gh.iso(self._tick()))
        issue = r.issues[int(comment["issue_url"].rsplit("/", 1)[1])]
        self.emit(r, "issue_comment", "edited", issue=issue, comment=comment, changes={"body": {"from": previous}})
        return comment

    def delete_comment(self, owner: str, repo: str, comment_id: int) -> None:
        """Delete a comment (GitHub's ``DELETE /repos/{owner}/{repo}/issues/comments/{id}``): a webhook
        ``issue_comment.deleted``, and the issue counts one comment fewer."""
        r = self._seeded(owner, repo)
        comment = next(c for c in r.comments if c["id"] == comment_id)
        r.comments.remove(comment)
        issue = r.issues[int(comment["issue_url"].rsplit("/", 1)[1])]
        issue["comments"] -= 1
        self.emit(r, "issue_comment", "deleted", issue=issue, comment=comment)

    def emit(self, repo: Repo, event: str, action: str, **payload: Any) -> None:
        """A change GitHub would send as a webhook; the server delivers it (nothing to do here)."""

    def issue(self, owner: str, repo: str, number: int) -> dict[str, Any]:
        return self._seeded(owner, repo).issues[number]

    def issues(self, owner: str, repo: str) -> list[dict[str, Any]]:
        return list(self._seeded(owner, repo).issues.values())

    def pulls(self, owner: str, repo: str) -> list[dict[str, Any]]:
        """The pull requests (as their issues: ``pull_request.merged_at`` says whether merged)."""
        return [i for i in self._seeded(owner, repo).issues.values() if "pull_request" in i]

    def comments(self, owner: str, repo: str) -> list[dict[str, Any]]:
        return list(self._seeded(owner, repo).comments)

    # changes ----------------------------------------------------------------------------
    def _tick(self) -> int:
        """Whole seconds, strictly increasing per change, so ``since`` can tell changes apart."""
        self._last_ts = max(int(time.time()), self._last_ts + 1)
        return self._last_ts

    def _next_id(self) -> int:
        self._ids += 1
        return self._ids

    def _owner(self, login: str) -> dict[str, Any]:
        found = self._owners.get(login.lower())
        if found is None:
            found = self._owners[login.lower()] = gh.user_json(login, self._next_id(), kind="Organization")
        return found

    def _seeded(self, owner: str, name: str) -> Repo:
        repo = self._repos.get(f"{owner}/{name}".lower())
        if repo is None:
            raise KeyError(f"no repository {owner}/{name} in the simulator: seed_repo() it first")
        return repo

    def _labels(self, repo: Repo, names: Iterable[Any]) -> list[dict[str, Any]]:
        out = []
        for raw in names:
            name = raw.get("name") if isinstance(raw, dict) else str(raw)
            if not name:
                continue
            label = repo.labels.get(name.lower())
            if label is None:
                label = repo.labels[name.lower()] = gh.label_json(repo.json["full_name"], self._next_id(), name)
            out.append(label)
        return out

    def _assignees(self, logins: Iterable[str]) -> list[dict[str, Any]]:
        return [self.user if login.lower() == self.login.lower() else self._owner(login) for login in logins]

    def _new_issue(self, repo: Repo, fields: dict[str, Any], author: dict[str, Any]) -> dict[str, Any]:
        now = self._tick()
        number = repo.next_number
        repo.next_number += 1
        merged = bool(fields.get("merged", False))
        closed = fields.get("state") == "closed" or merged
        issue = gh.issue_json(
            self._next_id(),
            repo.json["full_name"],
            number,
            title=str(fields.get("title", f"Issue {number}")),
            body=fields.get("body"),
            user=author,
            state="closed" if closed else "open",
            state_reason=fields.get("state_reason", "completed") if closed else None,
            labels=self._labels(repo, fields.get("labels", [])),
            assignees=self._assignees(fields.get("assignees", [])),
            comments=0,
            created=now,
            updated=now,
            closed=now if closed else None,
            closed_by=author if closed else None,
            pull_request=bool(fields.get("is_pull_request", False)) or merged,
        )
        if merged:
            issue["pull_request"]["merged_at"] = issue["closed_at"]
        repo.issues[number] = issue
        self._count_open(repo)
        self._emit_issue(repo, issue, "opened")
        return issue

    def _emit_issue(self, repo: Repo, issue: dict[str, Any], action: str, **extra: Any) -> None:
        if "pull_request" in issue:
            self.emit(repo, "pull_request", action, number=issue["number"], pull_request=issue, **extra)
        else:
            self.emit(repo, "issues", action, issue=issue, **extra)

    def _patch_issue(self, repo: Repo, issue: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
        was = issue["state"]
        changes = {k: {"from": issue[k]} for k in ("title", "body") if k in fields and fields[k] != issue[k]}
        for key in ("title", "body"):
            if key in fields:
                issue[key] = fields[key] if key == "body" else str(fields[key])
        if "labels" in fields:
            issue["labels"] = self._labels(repo, fields["labels"] or [])
        if "assignees" in fields:
            issue["assignees"] = self._assignees(fields["assignees"] or [])
            issue["assignee"] = issue["assignees"][0] if issue["assignees"] else None
        now = self._tick()
        state = fields.get("state")
        if fields.get("merged") and "pull_request" in issue and not issue["pull_request"]["merged_at"]:
            issue["pull_request"]["merged_at"] = gh.iso(now)
            state = "closed"
        if state == "closed" and issue["state"] != "closed":
            issue.update(state="closed", closed_at=gh.iso(now), closed_by=self.user)
            issue["state_reason"] = fields.get("state_reason") or "completed"
        elif state == "open" and issue["state"] != "open":
            issue.update(state="open", closed_at=None, state_reason="reopened")
        elif "state_reason" in fields and issue["state"] == "closed":
            issue["state_reason"] = fields["state_reason"] or "completed"
        issue["updated_at"] = gh.iso(now)
        self._count_open(repo)
        if issue["state"] != was:
            self._emit_issue(repo, issue, "closed" if issue["state"] == "closed" else "reopened")
        else:
            self._emit_issue(repo, issue, "edited", changes=changes)
        return issue

    def _count_open(self, repo: Repo) -> None:
        n = sum(1 for i in repo.issues.values() if i["state"] == "open")
        repo.json["open_issues_count"] = repo.json["open_issues"] = n

    def _new_comment(self, repo: Repo, issue: dict[str, Any], body: str, author: dict[str, Any]) -> dict[str, Any]:
        now = self._tick()
        comment = gh.comment_json(
            self._next_id(),
            repo.json["full_name"],
            issue["number"],
            body=body,
            user=author,
            created=now,
            updated=now,
            pull_request="pull_request" in issue,
        )
        repo.comments.append(comment)
        issue["comments"] += 1
        issue["updated_at"] = gh.iso(now)  # a comment moves its issue's updated_at, as on GitHub
        self.emit(repo, "issue_comment", "created", issue=issue, comment=comment)
        return comment
