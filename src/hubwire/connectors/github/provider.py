"""GitHub as a provider: the spec (auth, check, Link pagination, resources mapped to Projects Nouns) and its sync.

Resources and their remote ids (the keys of ``external_refs``):

- ``repo`` -> Project, GitHub's numeric repository id;
- ``issue`` -> Issue (pull requests included, ``is_pull_request``, ``merged``), ``owner/name#number``: the key
  the REST API addresses an issue by, and the only link a comment has to its issue (``issue_url``);
- ``comment`` -> Comment, GitHub's numeric comment id.

A sync lists the followed repositories (config ``repos``: ``["owner/name", ...]``; default: every
repository of the token's user via ``GET /user/repos``), then one stream per repository for issues
and one for comments, each with its own cursor (``issue:owner/name``): ``since`` is the newest
``updated_at`` seen (GitHub's ``since`` is inclusive, so the boundary record comes back and hashes
as unchanged), and a single-page pass keeps its ``ETag`` so the next pass asks with
``If-None-Match`` and a 304 (free on GitHub's rate limit) means nothing changed. A pass that spans
pages saves its position (the ``next`` link) with every page, so a crashed sync resumes there.
Issues closed, completed or reopened on GitHub are announced as ``Issue.Completed`` / ``Closed`` /
``Reopened`` once the pull is stored (:mod:`hubwire.connectors.github.transitions`); a sync that
fails part-way announces nothing (its ``Issue.Updated`` events are there).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import httpx

from hubwire.connectors.github.transitions import announce, statuses_before
from hubwire.connectors.registry import ProviderContext, SyncProgress, WebhookRegistration
from hubwire.connectors.runtime import Connection, SpecProvider, to_incoming
from hubwire.connectors.spec import (
    Auth,
    Endpoint,
    FieldMap,
    Pagination,
    ProviderSpec,
    RateLimit,
    Relation,
    Resource,
)
from hubwire.domains import projects
from hubwire.errors import FieldError, ProviderInvalidRequest, ValidationError
from hubwire.sync.engine import Batch, Stream, pull
from hubwire.sync.upsert import Incoming

if TYPE_CHECKING:
    from hubwire.inbound.received import ReceivedHook, WebhookRecord

__all__ = ["GITHUB", "GitHub", "GitHubConnection", "issue_key", "issue_status", "parse_issue_key"]

_LINK_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')
_REPO = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
PER_PAGE = 100


def issue_key(full_name: str, number: int | str) -> str:
    return f"{full_name}#{number}"


def parse_issue_key(key: str) -> tuple[str, int]:
    full_name, _, number = key.rpartition("#")
    return full_name, int(number)


def issue_status(record: Mapping[str, Any]) -> str:
    """GitHub's state and state_reason as our Issue status (see :mod:`hubwire.domains.projects`)."""
    if record.get("state") != "closed":
        return "Open"
    return "Closed" if record.get("state_reason") == "not_planned" else "Completed"


def _repo_of(url: str) -> str:
    """``.../repos/owner/name/issues/5`` or ``.../repos/owner/name`` -> ``owner/name``."""
    tail = url.split("/repos/", 1)[1]
    owner, name = tail.split("/")[:2]
    return f"{owner}/{name}"


REPO = Resource(
    "repo",
    list=Endpoint("GET", "/user/repos", params=(("sort", "full_name"),)),
    get=Endpoint("GET", "/repos/{id}"),
    record_path="",
    updated_field="updated_at",
    mapping=FieldMap(
        "Project",
        fields={
            "name": "name",
            "full_name": "full_name",
            "description": "description",
            "url": "html_url",
            "private": "private",
            "default_branch": "default_branch",
            "owner": "owner.login",
            "topics": "topics",
            "open_issues": "open_issues_count",
        },
    ),
)

ISSUE = Resource(
    "issue",
    list=Endpoint("GET", "/repos/{repo}/issues", params=(("state", "all"), ("sort", "updated"), ("direction", "asc"))),
    create=Endpoint("POST", "/repos/{repo}/issues"),
    update=Endpoint("PATCH", "/repos/{repo}/issues/{number}"),
    record_path="",
    id_field="_key",
    updated_field="updated_at",
    incremental_param="since",
    incremental_field="updated_at",
    mapping=FieldMap(
        "Issue",
        fields={
            "title": "title",
            "body": "body",
            "status": issue_status,
            "number": "number",
            "labels": lambda r: [lb["name"] if isinstance(lb, dict) else str(lb) for lb in r.get("labels") or []],
            "assignees": lambda r: [a["login"] for a in r.get("assignees") or []],
            "url": "html_url",
            "is_pull_request": lambda r: "pull_request" in r,
            # Merged or not is on the issue itself (pull_request.merged_at): no call to the pulls API.
            "merged": lambda r: bool((r["pull_request"] or {}).get("merged_at")) if "pull_request" in r else None,
            "merged_at": "pull_request.merged_at",
            "author": "user.login",
            "comments": "comments",
            "opened_at": "created_at",
            "closed_at": "closed_at",
        },
        relations={"project": Relation("_repo_id", "repo")},
    ),
)

COMMENT = Resource(
    "comment",
    list=Endpoint("GET", "/repos/{repo}/issues/comments", params=(("sort", "updated"), ("direction", "asc"))),
    create=Endpoint("POST", "/repos/{repo}/issues/{number}/comments"),
    record_path="",
    updated_field="updated_at",
    incremental_param="since",
    incremental_field="updated_at",
    mapping=FieldMap(
        "Comment",
        fields={"body": "body", "author": "user.login", "url": "html_url", "posted_at": "created_at"},
        relations={"issue": Relation("_issue_key", "issue")},
    ),
)

GITHUB = ProviderSpec(
    base_url="https://api.github.com",
    auth=Auth("bearer", credential="token"),
    check=Endpoint("GET", "/user"),
    pagination=Pagination("link", page_size=PER_PAGE, limit_param="per_page"),
    # GitHub allows 5,000 requests an hour and frowns on bursts (secondary limits): stay well under.
    rate_limit=RateLimit(20, 1.0),
    resources=(REPO, ISSUE, COMMENT),
    truth_for=("Project", "Issue", "Comment"),
    idempotency_header=None,  # GitHub has no idempotency keys: creates are never retried blindly
    body="json",
    headers=(("Accept", "application/vnd.github+json"), ("X-GitHub-Api-Version", "2022-11-28")),
)


class GitHubConnection(Connection):
    """A connection that can ask conditionally (``If-None-Match``) and follow ``Link`` pages."""

    async def get(
        self, path: str, params: Sequence[tuple[str, Any]] | None = None, *, etag: str | None = None
    ) -> httpx.Response:
        headers = dict(self.headers)
        if etag:
            headers["If-None-Match"] = etag
        return await self.http.request(
            "GET",
            self.url(path),
            params=list(params) if params else None,
            headers=headers,
            budget=self.budget,
            secrets=self.secrets,
            provider=self.ctx.provider.slug,
            integration_id=self.ctx.integration.get("$id") or None,
        )

    async def send_json(self, method: str, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """A write with a JSON body; GitHub's answer (the object as it now is)."""
        resp = await self.send(method, path, body=body)
        data = resp.json()
        if not isinstance(data, dict):
            raise ProviderInvalidRequest(f"{method} {path} did not answer with an object", provider="github")
        return data

    def next_link(self, resp: httpx.Response) -> str | None:
        """The ``rel="next"`` URL of a page; only on the API's own origin, where the token may go."""
        m = _LINK_NEXT.search(resp.headers.get("link", ""))
        if m is None:
            return None
        url = m.group(1)
        if not url.startswith(self.base_url + "/"):
            raise ProviderInvalidRequest(
                f"GitHub's Link header points outside {self.base_url}; not following it", provider="github"
            )
        return url

    async def walk(self, path: str, params: Sequence[tuple[str, Any]]) -> AsyncIterator[list[dict[str, Any]]]:
        url: str | None = path
        query: Sequence[tuple[str, Any]] | None = params
        while url:
            resp = await self.get(url, query)
            yield [r for r in resp.json() if isinstance(r, dict)]
            url, query = self.next_link(resp), None


class GitHub(SpecProvider):
    slug = "github"
    name = "GitHub"
    category = "CRM"  # the seed's table: "GitHub | CRM | Project, Issue, Comment"
    auth_type = "ApiKey"
    description = "Repositories, issues, pull requests and comments as Projects, Issues and Comments, both ways."
    provider_url = "https://github.com"
    provider_logo = "https://github.githubassets.com/favicons/favicon.svg"
    api_base_url = GITHUB.base_url
    credential_fields = ("token",)
    required_credentials = ("token",)
    config_fields = ("repos",)
    syncs = True
    spec = GITHUB
    webhook_support = True
    webhook_scheme = "github"

    def prepare(self, params: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        creds, config = super().prepare(params)
        repos = config.get("repos")
        if repos is not None:
            if isinstance(repos, str):
                repos = [r.strip() for r in repos.split(",") if r.strip()]
            bad = [r for r in repos if not isinstance(r, str) or not _REPO.match(r)]
            if not isinstance(repos, list) or bad:
                raise ValidationError(
                    "github repos must be a list of 'owner/name'",
                    [FieldError("repos", "format", f"not an owner/name: {b!r}") for b in bad],
                    provider=self.slug,
                )
            config["repos"] = repos
        return creds, config

    def connection(self, ctx: ProviderContext) -> GitHubConnection:
        return GitHubConnection(ctx, self.spec)

    def account(self, body: Any) -> dict[str, Any] | None:
        if not isinstance(body, dict):
            return None
        return {"login": body.get("login"), "id": body.get("id")}

    def record(self, resource: Resource, raw: dict[str, Any]) -> dict[str, Any] | None:
        if resource.name == "issue":
            full = _repo_of(raw["repository_url"])
            return {**raw, "_key": issue_key(full, raw["number"]), "_repo_id": raw.get("_repo_id")}
        if resource.name == "comment":
            full = _repo_of(raw["issue_url"])
            return {**raw, "_issue_key": issue_key(full, raw["issue_url"].rstrip("/").rsplit("/", 1)[1])}
        return raw

    async def sync(self, ctx: ProviderContext, progress: SyncProgress) -> int:
        conn = self.connection(ctx)
        repos = await self.followed_repos(ctx, conn)
        moves: list[tuple[list[Incoming], dict[str, tuple[str, str]]]] = []
        streams = [Stream("repo", projects.Project, _fixed(REPO, [self.incoming(REPO, r) for r in repos]))]
        for repo in repos:
            streams.append(
                Stream(f"issue:{repo['full_name']}", projects.Issue, self._changes(conn, ISSUE, repo, moves))
            )
        for repo in repos:
            streams.append(Stream(f"comment:{repo['full_name']}", projects.Comment, self._changes(conn, COMMENT, repo)))
        seen = await pull(ctx, progress, streams)
        # Not from inside the page generator: the engine may fetch a page ahead of storing the last one.
        for items, before in moves:
            await announce(ctx.hub, items, before, self.slug)
        return seen

    # Webhooks (hubwire.connectors.github.webhooks) -------------------------------------------
    def webhook_event_type(self, headers: Mapping[str, str], payload: Any) -> str | None:
        from hubwire.connectors.github import webhooks

        return webhooks.event_type(headers, payload)

    async def webhook_records(self, ctx: ProviderContext, hook: ReceivedHook) -> list[WebhookRecord]:
        from hubwire.connectors.github import webhooks

        return await webhooks.records(self, ctx, hook)

    async def register_webhook(self, ctx: ProviderContext, url: str) -> WebhookRegistration:
        from hubwire.connectors.github import webhooks

        return await webhooks.register(self, ctx, url)

    async def unregister_webhook(self, ctx: ProviderContext) -> None:
        from hubwire.connectors.github import webhooks

        await webhooks.unregister(self, ctx)

    async def followed_repos(self, ctx: ProviderContext, conn: GitHubConnection) -> list[dict[str, Any]]:
        """The repositories this Integration follows: config ``repos``, or every one of the token's."""
        wanted = ctx.config.get("repos")
        if wanted:
            return [(await conn.get(f"/repos/{full}")).json() for full in wanted]
        out: list[dict[str, Any]] = []
        async for page in conn.walk("/user/repos", [("sort", "full_name"), ("per_page", PER_PAGE)]):
            out += page
        return out

    def incoming(self, resource: Resource, raw: dict[str, Any]) -> Incoming | None:
        """A raw GitHub object (a REST answer or a webhook's) mapped as the sync maps it."""
        rec = self.record(resource, raw)
        return to_incoming(resource, rec) if rec is not None else None

    def _changes(
        self, conn: GitHubConnection, resource: Resource, repo: dict[str, Any], moves: list[Any] | None = None
    ) -> Any:
        """Pages of a repository's issues or comments changed since the stream's cursor."""
        assert resource.list is not None
        path = resource.list.path.replace("{repo}", repo["full_name"])
        repo_id = repo["id"]
        integration_id = str(conn.ctx.integration.id)

        async def pages(state: dict[str, Any]) -> AsyncIterator[Batch]:
            resuming = "page" in state
            since = state.get("since_run") if resuming else state.get("since")
            newest = state.get("max") if resuming else None
            if resuming:
                url: str | None = state["page"]
                query: list[tuple[str, Any]] | None = None
            else:
                url = path
                query = [*resource.list.params, ("per_page", PER_PAGE)]  # type: ignore[union-attr]
                if since is not None:
                    query.append(("since", since))
            etag = state.get("etag") if not resuming and state.get("etag_since") == since else None
            first = True
            while url is not None:
                resp = await conn.get(url, query, etag=etag if first else None)
                if resp.status_code == 304:  # nothing changed since the last pass
                    yield Batch([], dict(state), resource=resource.name)
                    return
                items: list[Incoming] = []
                for raw in resp.json():
                    raw["_repo_id"] = repo_id
                    inc = self.incoming(resource, raw)
                    if inc is not None:
                        items.append(inc)
                    mark = raw.get("updated_at")
                    if mark is not None and (newest is None or mark > newest):
                        newest = mark
                nxt = conn.next_link(resp)
                if moves is not None and items:
                    # Read before this page is applied; announced once the whole pull is stored.
                    moves.append((items, await statuses_before(conn.ctx.hub, integration_id, items)))
                if nxt is None:
                    done: dict[str, Any] = {"since": newest if newest is not None else since}
                    # A first page's ETag stands for the whole answer only when there was one page.
                    if first and resp.headers.get("etag"):
                        done.update(etag=resp.headers["etag"], etag_since=since)
                    yield Batch(items, done, resource=resource.name)
                else:
                    yield Batch(
                        items,
                        {"since": state.get("since"), "since_run": since, "max": newest, "page": nxt},
                        resource=resource.name,
                    )
                url, query, first = nxt, None, False

        return pages


def _fixed(resource: Resource, items: list[Incoming | None]) -> Any:
    async def pages(state: dict[str, Any]) -> AsyncIterator[Batch]:
        yield Batch([i for i in items if i is not None], {}, resource=resource.name)

    return pages
