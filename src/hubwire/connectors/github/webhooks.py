"""GitHub webhooks: repository hooks registered at connect, and the events applied to Projects Nouns.

Applied events (``X-GitHub-Event`` and the payload's ``action``): ``issues`` (opened, edited,
closed, reopened, labeled, assigned...; ``deleted`` deletes the Issue; ``transferred`` deletes it
here and creates it in the new repository when that one is followed too), ``issue_comment``
(created, edited, deleted; the issue it carries is applied first), ``pull_request`` (any action:
the pull request is an Issue, ``is_pull_request``, ``merged``) and ``repository`` (edited,
renamed, archived...; ``deleted`` deletes the Project). Each object is mapped as the sync maps it
into the delivery's records (:meth:`Provider.webhook_records`), which the inbox applies with those
of the other deliveries waiting, a page per transaction, through the sync's
:func:`~hubwire.sync.upsert.apply_page` with ``github`` as the source (:mod:`hubwire.inbound.batch`); its
``updated_at`` orders it (an older delivery never moves an entity back). Status moves are
announced as the verbs (``Issue.Completed``...) as a sync announces them. ``ping`` and the events
Hubwire does not follow are ``ignored``.

Registration: one hook per followed repository (``POST /repos/{o}/{r}/hooks``, JSON content,
the events above), all signed with one secret Hubwire generates; a repository that refuses (no
admin right on it) is named in the Integration's ``webhooks`` note and stays polled.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from hubwire.connectors.github.provider import COMMENT, ISSUE, REPO
from hubwire.connectors.github.transitions import verb_for
from hubwire.connectors.registry import ProviderContext, WebhookRegistration
from hubwire.connectors.spec import Resource
from hubwire.errors import HubwireError, ProviderInvalidRequest
from hubwire.inbound.received import WebhookRecord
from hubwire.sync.state import lookup
from hubwire.sync.upsert import Incoming

if TYPE_CHECKING:
    from hubwire.connectors.github.provider import GitHub
    from hubwire.inbound.received import ReceivedHook

__all__ = ["EVENTS", "event_type", "records", "register", "unregister"]

EVENTS = ("issues", "issue_comment", "pull_request", "repository")


def event_type(headers: Any, payload: Any) -> str | None:
    """``issues.opened``: the ``X-GitHub-Event`` header and the payload's ``action`` (if it has one)."""
    event = headers.get("x-github-event") if hasattr(headers, "get") else None
    if not event:
        return None
    action = payload.get("action") if isinstance(payload, dict) else None
    return f"{event}.{action}" if isinstance(action, str) and action else str(event)


async def register(provider: GitHub, ctx: ProviderContext, url: str) -> WebhookRegistration:
    """A hook on every followed repository, one generated secret for all."""
    conn = provider.connection(ctx)
    secret = secrets.token_hex(32)
    config = {"url": url, "content_type": "json", "secret": secret, "insecure_ssl": "0"}
    made: list[list[Any]] = []
    refused: list[str] = []
    first_error: HubwireError | None = None
    for repo in await provider.followed_repos(ctx, conn):
        full = repo["full_name"]
        try:
            hook = await conn.send_json(
                "POST",
                f"/repos/{full}/hooks",
                {"name": "web", "active": True, "events": list(EVENTS), "config": config},
            )
        except HubwireError as exc:
            first_error = first_error or exc
            refused.append(f"{full}: {exc.message}")
            continue
        made.append([full, hook["id"]])
    if not made:
        if first_error is not None:
            raise first_error
        raise ProviderInvalidRequest("no repository to register a GitHub hook on", provider="github")
    note = f"polling {len(refused)} repositories GitHub refused a hook on: {'; '.join(refused)}" if refused else None
    return WebhookRegistration(secret, {"webhook_hooks": made}, note)


async def unregister(provider: GitHub, ctx: ProviderContext) -> None:
    """Delete every hook registered; one refused does not keep the others (the first error is raised)."""
    conn = provider.connection(ctx)
    failed: HubwireError | None = None
    for full, hook_id in ctx.credentials.get("webhook_hooks") or []:
        try:
            await conn.send("DELETE", f"/repos/{full}/hooks/{hook_id}")
        except HubwireError as exc:
            failed = failed or exc
    if failed is not None:
        raise failed


def _issue_record(issue: dict[str, Any], repo: dict[str, Any]) -> dict[str, Any]:
    return {**issue, "_repo_id": repo.get("id")}


def _pull_as_issue(pull: dict[str, Any], repo: dict[str, Any]) -> dict[str, Any]:
    """A ``pull_request`` event's object in the shape the issues API gives pull requests."""
    links = {"url": pull.get("url"), "html_url": pull.get("html_url"), "merged_at": pull.get("merged_at")}
    return {
        **pull,
        "repository_url": repo.get("url") or f"https://api.github.com/repos/{repo.get('full_name')}",
        "pull_request": links,
        "state_reason": None,
        "_repo_id": repo.get("id"),
    }


async def records(provider: GitHub, ctx: ProviderContext, hook: ReceivedHook) -> list[WebhookRecord]:
    """The records a delivery changes, in the order they are applied (an issue before its comment)."""
    payload = hook.payload if isinstance(hook.payload, dict) else {}
    event = hook.headers.get("x-github-event")
    action = payload.get("action")
    found = payload.get("repository")
    repo: dict[str, Any] = found if isinstance(found, dict) else {}
    changes: list[tuple[Resource, Incoming]] = []
    if event == "issues" and isinstance(payload.get("issue"), dict):
        item = provider.incoming(ISSUE, _issue_record(payload["issue"], repo))
        if item is not None:
            item.deleted = action in ("deleted", "transferred")
            changes.append((ISSUE, item))
        moved = (payload.get("changes") or {}) if action == "transferred" else {}
        new_issue, new_repo = moved.get("new_issue"), moved.get("new_repository")
        followed = isinstance(new_repo, dict) and await lookup(ctx.hub, ctx.integration.id, "repo", str(new_repo["id"]))
        if isinstance(new_issue, dict) and isinstance(new_repo, dict) and followed:
            again = provider.incoming(ISSUE, _issue_record(new_issue, new_repo))
            if again is not None:
                changes.append((ISSUE, again))
    elif event == "pull_request" and isinstance(payload.get("pull_request"), dict):
        item = provider.incoming(ISSUE, _pull_as_issue(payload["pull_request"], repo))
        if item is not None:
            changes.append((ISSUE, item))
    elif event == "issue_comment" and isinstance(payload.get("comment"), dict):
        if isinstance(payload.get("issue"), dict):  # its comment count and updated_at moved too
            parent = provider.incoming(ISSUE, _issue_record(payload["issue"], repo))
            if parent is not None:
                changes.append((ISSUE, parent))
        item = provider.incoming(COMMENT, dict(payload["comment"]))
        if item is not None:
            item.deleted = action == "deleted"
            changes.append((COMMENT, item))
    elif event == "repository" and repo.get("id") is not None:
        item = provider.incoming(REPO, dict(repo))
        if item is not None:
            item.deleted = action == "deleted"
            changes.append((REPO, item))
    return [
        WebhookRecord(resource.name, provider.noun(resource), item, verb_for if resource is ISSUE else None)
        for resource, item in changes
    ]
