"""A local GitHub REST API (aiohttp, loopback, ephemeral port) for tests and ``hubwire simulate github``.

Speaks the wire format of the endpoints Hubwire uses: ``Authorization: Bearer|token`` and its 401,
``GET /user``, ``GET /user/repos``, ``GET /repos/{o}/{r}``, issues (list with ``state``, ``since``,
``sort``, ``direction``; create, get, update) where pull requests appear with a ``pull_request``
key, pull requests (``GET /repos/{o}/{r}/pulls`` with ``state``, ``sort``, ``direction``, and
``GET .../pulls/{n}``; ``merged``/``merged_at``), comments (repository-wide with ``since``, per
issue, create), repository hooks (``POST/GET/DELETE /repos/{o}/{r}/hooks``) to which every change
is posted in the background as GitHub's webhook (``X-GitHub-Event``, ``X-GitHub-Delivery``,
``X-Hub-Signature-256`` with the hook's ``config.secret``; a ``ping`` when a hook is made),
``Link`` pagination with ``per_page`` (default 30, max 100) and ``page``,
``X-RateLimit-*`` headers with a primary limit (403, remaining 0) and an optional secondary one
(403 + ``Retry-After``), ``ETag`` on GETs and ``If-None-Match`` -> 304 (not counted against the
limit, as on GitHub), GitHub's 404 and 422 bodies.

Every request is checked against GitHub's OpenAPI description when the specs folder is present
(:mod:`hubwire.simulators.github.spec`): a mismatch is recorded in ``mismatches`` and answered 400
with a message saying so. It also records every request and injects faults (``fail_next``).
The data and its changes live in :mod:`hubwire.simulators.github.state` (``seed_repo``,
``seed_issue``, ``update_issue``...). In-memory only; never talks to the real GitHub.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import math
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from hubwire.simulators.github import objects as gh
from hubwire.simulators.github.spec import GitHubSpec, github_spec
from hubwire.simulators.github.state import GitHubState, Repo
from hubwire.simulators.loopback import drop_oldest
from hubwire.simulators.webhook_sender import WebhookSender

__all__ = ["DEFAULT_TOKEN", "MISMATCH", "GitHubSimulator", "RecordedRequest"]

DEFAULT_TOKEN = "ghp_hubwiretesttoken000000000000000000"
DOCS = "https://docs.github.com/rest"
MISMATCH = "Hubwire GitHub simulator: request does not match GitHub's OpenAPI description"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class RecordedRequest:
    """One request the simulator received, and the status it answered."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    status: int = 0


@dataclass
class _Fault:
    status: int
    retry_after: float | None
    delay: float | None
    when: Callable[[web.Request], bool] | None = None


@dataclass
class _Rate:
    used: int = 0
    reset: int = 0


class GitHubSimulator(GitHubState):
    """``async with GitHubSimulator() as sim:`` -> ``sim.url`` serves a small, faithful GitHub."""

    def __init__(
        self,
        tokens: Iterable[str] = (DEFAULT_TOKEN,),
        *,
        specs_dir: Path | None = None,
        rate_limit: int = 5000,
        secondary_limit: int | None = None,
        secondary_window: float = 1.0,
        login: str = "hubwire-tester",
        check_spec: bool = True,
        keep_requests: int | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(login)
        self.tokens = set(tokens)
        self.rate_limit = rate_limit
        self.secondary_limit = secondary_limit
        self.secondary_window = secondary_window
        self.host, self.port = host, port
        self.spec: GitHubSpec | None = github_spec(specs_dir) if check_spec else None
        self.requests: list[RecordedRequest] = []
        # None keeps every request (tests slice it); a long-running ``hubwire simulate`` keeps the last N.
        self.keep_requests = keep_requests
        self.mismatches: list[str] = []
        self._faults: deque[_Fault] = deque()
        self._rates: dict[str, _Rate] = {}
        self._recent: deque[float] = deque()
        self._runner: web.AppRunner | None = None
        self.url = ""
        self.sender = WebhookSender()

    # lifecycle ------------------------------------------------------------------------
    async def start(self) -> GitHubSimulator:
        app = web.Application(middlewares=[self._middleware])
        r = app.router
        r.add_get("/user", self._get_user)
        r.add_get("/user/repos", self._list_user_repos)
        r.add_get("/repos/{owner}/{repo}", self._get_repo)
        r.add_get("/repos/{owner}/{repo}/issues", self._list_issues)
        r.add_post("/repos/{owner}/{repo}/issues", self._create_issue)
        r.add_get("/repos/{owner}/{repo}/pulls", self._list_pulls)
        r.add_get(r"/repos/{owner}/{repo}/pulls/{number:\d+}", self._get_pull)
        r.add_get("/repos/{owner}/{repo}/issues/comments", self._list_repo_comments)
        r.add_get(r"/repos/{owner}/{repo}/issues/{number:\d+}", self._get_issue)
        r.add_patch(r"/repos/{owner}/{repo}/issues/{number:\d+}", self._update_issue)
        r.add_get(r"/repos/{owner}/{repo}/issues/{number:\d+}/comments", self._list_issue_comments)
        r.add_post(r"/repos/{owner}/{repo}/issues/{number:\d+}/comments", self._create_comment)
        r.add_get("/repos/{owner}/{repo}/hooks", self._list_hooks)
        r.add_post("/repos/{owner}/{repo}/hooks", self._create_hook)
        r.add_get(r"/repos/{owner}/{repo}/hooks/{hook_id:\d+}", self._get_hook)
        r.add_delete(r"/repos/{owner}/{repo}/hooks/{hook_id:\d+}", self._delete_hook)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        # Open keep-alive connections of clients must not hold up closing the simulator.
        site = web.TCPSite(self._runner, self.host, self.port, shutdown_timeout=0.5)
        await site.start()
        sockets = getattr(site._server, "sockets", None) or []
        port = sockets[0].getsockname()[1]
        self.url = f"http://{self.host}:{port}"
        await self.sender.start()
        return self

    async def close(self) -> None:
        await self.sender.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> GitHubSimulator:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # faults and inspection (for tests; seeding is GitHubState's) ----------------------------
    def fail_next(
        self,
        n: int = 1,
        *,
        status: int = 500,
        retry_after: float | None = None,
        delay: float | None = None,
        when: Callable[[web.Request], bool] | None = None,
    ) -> None:
        """Answer the next ``n`` requests (those ``when`` accepts) with ``status``, after ``delay`` seconds."""
        self._faults.extend(_Fault(status, retry_after, delay, when) for _ in range(n))

    def clear_faults(self) -> None:
        self._faults.clear()

    def rate_used(self, token: str = DEFAULT_TOKEN) -> int:
        return self._rate(token).used

    def requests_to(self, method: str, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == method and r.path == path]

    # internals --------------------------------------------------------------------------
    def _repo(self, owner: str, name: str) -> Repo:
        repo = self._repos.get(f"{owner}/{name}".lower())
        if repo is None:
            raise web.HTTPNotFound(text=_dumps({"message": "Not Found", "documentation_url": DOCS}))
        return repo

    def _rate(self, token: str) -> _Rate:
        rate = self._rates.setdefault(token, _Rate())
        now = time.time()
        if rate.reset <= now:
            rate.used, rate.reset = 0, int(now) + 3600
        return rate

    def _rate_headers(self, token: str | None) -> dict[str, str]:
        if token is None:
            return {}
        rate = self._rate(token)
        return {
            "X-RateLimit-Limit": str(self.rate_limit),
            "X-RateLimit-Remaining": str(max(0, self.rate_limit - rate.used)),
            "X-RateLimit-Used": str(rate.used),
            "X-RateLimit-Reset": str(rate.reset),
            "X-RateLimit-Resource": "core",
        }

    # the request pipeline -----------------------------------------------------------------
    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        raw = await request.read()
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        rec = RecordedRequest(request.method, request.path, dict(request.query), dict(request.headers), body)
        self.requests.append(rec)
        resp = await self._answer(request, handler, raw, body)
        rec.status = resp.status
        drop_oldest(self.requests, self.keep_requests)
        drop_oldest(self.mismatches, self.keep_requests)
        return resp

    async def _answer(self, request: web.Request, handler: Handler, raw: bytes, body: Any) -> web.StreamResponse:
        if self.spec is not None:
            check = self.spec.check_request(
                request.method,
                request.path,
                list(request.query.items()),
                dict(request.headers),
                raw or None,
                request.content_type if raw else "application/json",
            )
            if not check.ok:
                for problem in check.problems:
                    self.mismatches.append(f"{request.method} {request.path_qs}: {problem}")
                return _json({"message": f"{MISMATCH}: {'; '.join(check.problems)}", "documentation_url": DOCS}, 400)
        token = _token(request.headers.get("Authorization", ""))
        if token not in self.tokens:
            return _json({"message": "Bad credentials", "documentation_url": DOCS}, 401)
        rate_headers = self._rate_headers(token)
        fault = next((f for f in self._faults if f.when is None or f.when(request)), None)
        if fault is not None:
            self._faults.remove(fault)
            if fault.delay:
                await asyncio.sleep(fault.delay)
            headers = dict(rate_headers)
            if fault.retry_after is not None:
                headers["Retry-After"] = str(math.ceil(fault.retry_after))
            message = "Server Error" if fault.status >= 500 else "You have exceeded a secondary rate limit."
            return _json({"message": message, "documentation_url": DOCS}, fault.status, headers)
        if self.secondary_limit is not None:
            now = time.monotonic()
            while self._recent and self._recent[0] <= now - self.secondary_window:
                self._recent.popleft()
            if len(self._recent) >= self.secondary_limit:
                return _json(
                    {
                        "message": "You have exceeded a secondary rate limit. Please wait a few minutes before you "
                        "try again.",
                        "documentation_url": f"{DOCS}/overview/rate-limits-for-the-rest-api",
                    },
                    403,
                    {**rate_headers, "Retry-After": str(math.ceil(self.secondary_window))},
                )
            self._recent.append(now)
        rate = self._rate(token)
        exhausted = rate.used >= self.rate_limit
        if exhausted and request.method != "GET":
            return self._rate_exhausted(token)
        try:
            resp = await handler(request)
        except web.HTTPNotFound:
            resp = _json({"message": "Not Found", "documentation_url": DOCS}, 404)
        if request.method == "GET" and resp.status == 200 and isinstance(resp, web.Response):
            etag = (
                'W/"'
                + hashlib.sha1(  # a cache validator, not security
                    (resp.body or b"") + resp.headers.get("Link", "").encode()  # type: ignore[operator]
                ).hexdigest()
                + '"'
            )
            resp.headers["ETag"] = etag
            resp.headers["Cache-Control"] = "private, max-age=60, s-maxage=60"
            if _etag_matches(request.headers.get("If-None-Match", ""), etag):
                # A 304 does not count against the primary rate limit, as on GitHub.
                return web.Response(status=304, headers={"ETag": etag, **self._rate_headers(token)})
        if exhausted:
            return self._rate_exhausted(token)
        rate.used += 1
        resp.headers.update(self._rate_headers(token))
        resp.headers["X-GitHub-Media-Type"] = "github.v3; format=json"
        return resp

    def _rate_exhausted(self, token: str) -> web.Response:
        return _json(
            {
                "message": "API rate limit exceeded for user ID 1. If you reach out to GitHub Support for help, "
                "please include the request ID.",
                "documentation_url": f"{DOCS}/overview/rate-limits-for-the-rest-api",
            },
            403,
            self._rate_headers(token),
        )

    def _paginate(self, request: web.Request, items: list[dict[str, Any]]) -> web.Response:
        per_page = min(100, max(1, _int(request.query.get("per_page"), 30)))
        page = max(1, _int(request.query.get("page"), 1))
        last = max(1, math.ceil(len(items) / per_page))
        chunk = items[(page - 1) * per_page : page * per_page]
        base = [(k, v) for k, v in request.query.items() if k != "page"]

        def link(n: int) -> str:
            return f"<{self.url}{request.path}?{urlencode([*base, ('page', str(n))])}>"

        rels = []
        if page > 1:
            rels.append(f'{link(min(page - 1, last))}; rel="prev"')
        if page < last:
            rels += [f'{link(page + 1)}; rel="next"', f'{link(last)}; rel="last"']
        if page > 1:
            rels.append(f'{link(1)}; rel="first"')
        return _json(chunk, 200, {"Link": ", ".join(rels)} if rels else {})

    # handlers ---------------------------------------------------------------------------
    async def _get_user(self, request: web.Request) -> web.Response:
        owned = sum(1 for r in self._repos.values() if r.json["owner"]["login"] == self.login)
        return _json(gh.private_user_json(self.login, 1, name="Hubwire Tester", created=self._created, repos=owned))

    async def _list_user_repos(self, request: web.Request) -> web.Response:
        q = request.query
        repos = [r.json for r in self._repos.values()]
        visibility = q.get("visibility", "all")
        if visibility != "all":
            repos = [r for r in repos if r["visibility"] == visibility]
        affiliation = set(q.get("affiliation", "owner,collaborator,organization_member").split(","))
        if "owner" not in affiliation:
            repos = [r for r in repos if r["owner"]["login"] != self.login]
        if "organization_member" not in affiliation and "collaborator" not in affiliation:
            repos = [r for r in repos if r["owner"]["login"] == self.login]
        sort = q.get("sort", "full_name")
        key = "full_name" if sort == "full_name" else ("pushed_at" if sort == "pushed" else f"{sort}_at")
        desc = q.get("direction", "asc" if sort == "full_name" else "desc") == "desc"
        repos.sort(key=lambda r: (str(r[key]).lower(), r["id"]), reverse=desc)
        return self._paginate(request, repos)

    async def _get_repo(self, request: web.Request) -> web.Response:
        repo = self._repo(request.match_info["owner"], request.match_info["repo"]).json
        # GET /repos/{o}/{r} answers a "full-repository": three counters more than the list items.
        return _json({**repo, "has_discussions": False, "network_count": 0, "subscribers_count": 0})

    async def _list_issues(self, request: web.Request) -> web.Response:
        q = request.query
        repo = self._repo(request.match_info["owner"], request.match_info["repo"])
        items = list(repo.issues.values())
        state = q.get("state", "open")
        if state != "all":
            items = [i for i in items if i["state"] == state]
        if "since" in q:
            since = _norm_time(q["since"])
            items = [i for i in items if i["updated_at"] >= since]
        if "labels" in q:
            wanted = {x.strip().lower() for x in q["labels"].split(",") if x.strip()}
            items = [i for i in items if wanted <= {lb["name"].lower() for lb in i["labels"]}]
        if "creator" in q:
            items = [i for i in items if i["user"]["login"].lower() == q["creator"].lower()]
        sort = q.get("sort", "created")
        desc = q.get("direction", "desc") == "desc"
        field_ = "comments" if sort == "comments" else f"{sort}_at"
        items.sort(key=lambda i: (i[field_], i["number"]), reverse=desc)
        return self._paginate(request, items)

    async def _get_issue(self, request: web.Request) -> web.Response:
        repo = self._repo(request.match_info["owner"], request.match_info["repo"])
        issue = repo.issues.get(int(request.match_info["number"]))
        if issue is None:
            raise web.HTTPNotFound()
        return _json(issue)

    async def _create_issue(self, request: web.Request) -> web.Response:
        repo = self._repo(request.match_info["owner"], request.match_info["repo"])
        body = await _body(request)
        if not str(body.get("title") or "").strip():
            return _validation_failed("Issue", "title", "create-an-issue")
        issue = self._new_issue(
            repo, {k: body[k] for k in ("title", "body", "labels", "assignees") if k in body}, self.user
        )
        location = f"{self.url}/repos/{repo.json['full_name']}/issues/{issue['number']}"
        return _json(issue, 201, {"Location": location})

    async def _update_issue(self, request: web.Request) -> web.Response:
        repo = self._repo(request.match_info["owner"], request.match_info["repo"])
        issue = repo.issues.get(int(request.match_info["number"]))
        if issue is None:
            raise web.HTTPNotFound()
        body = await _body(request)
        if "title" in body and not str(body.get("title") or "").strip():
            return _validation_failed("Issue", "title", "update-an-issue")
        return _json(self._patch_issue(repo, issue, body))

    async def _list_pulls(self, request: web.Request) -> web.Response:
        q = request.query
        repo = self._repo(request.match_info["owner"], request.match_info["repo"])
        items = [i for i in repo.issues.values() if "pull_request" in i]
        state = q.get("state", "open")
        if state != "all":
            items = [i for i in items if i["state"] == state]
        if "base" in q and q["base"] != repo.json["default_branch"]:
            items = []  # every simulated pull request targets the default branch
        sort = q.get("sort", "created")
        # GitHub: descending by default when sorting by creation, ascending otherwise.
        desc = q.get("direction", "desc" if sort == "created" else "asc") == "desc"
        key = {"updated": "updated_at", "popularity": "comments"}.get(sort, "created_at")
        items.sort(key=lambda i: (i[key], i["number"]), reverse=desc)
        return self._paginate(request, [gh.pull_json(i, repo.json, full=False) for i in items])

    async def _get_pull(self, request: web.Request) -> web.Response:
        repo = self._repo(request.match_info["owner"], request.match_info["repo"])
        issue = repo.issues.get(int(request.match_info["number"]))
        if issue is None or "pull_request" not in issue:
            raise web.HTTPNotFound()
        return _json(gh.pull_json(issue, repo.json, full=True))

    async def _list_repo_comments(self, request: web.Request) -> web.Response:
        q = request.query
        repo = self._repo(request.match_info["owner"], request.match_info["repo"])
        items = list(repo.comments)
        if "since" in q:
            since = _norm_time(q["since"])
            items = [c for c in items if c["updated_at"] >= since]
        if "sort" in q:
            desc = q.get("direction", "desc") == "desc"
            items.sort(key=lambda c: (c[f"{q['sort']}_at"], c["id"]), reverse=desc)
        return self._paginate(request, items)

    async def _list_issue_comments(self, request: web.Request) -> web.Response:
        q = request.query
        repo = self._repo(request.match_info["owner"], request.match_info["repo"])
        number = int(request.match_info["number"])
        if number not in repo.issues:
            raise web.HTTPNotFound()
        url_tail = f"/issues/{number}"
        items = [c for c in repo.comments if c["issue_url"].endswith(url_tail)]
        if "since" in q:
            since = _norm_time(q["since"])
            items = [c for c in items if c["updated_at"] >= since]
        return self._paginate(request, items)

    async def _create_comment(self, request: web.Request) -> web.Response:
        repo = self._repo(request.match_info["owner"], request.match_info["repo"])
        issue = repo.issues.get(int(request.match_info["number"]))
        if issue is None:
            raise web.HTTPNotFound()
        body = await _body(request)
        if not str(body.get("body") or "").strip():
            return _validation_failed("IssueComment", "body", "create-an-issue-comment")
        comment = self._new_comment(repo, issue, str(body["body"]), self.user)
        return _json(
            comment, 201, {"Location": f"{self.url}/repos/{repo.json['full_name']}/issues/comments/{comment['id']}"}
        )

    # hooks and the webhooks they are sent ----------------------------------------------------
    def _hook_json(self, repo: Repo, hook: dict[str, Any]) -> dict[str, Any]:
        """A hook as the API shows it: its secret masked, as GitHub does."""
        config = dict(hook["config"])
        if config.get("secret"):
            config["secret"] = "********"
        return {**hook, "config": config}

    async def _list_hooks(self, request: web.Request) -> web.Response:
        repo = self._repo(request.match_info["owner"], request.match_info["repo"])
        return self._paginate(request, [self._hook_json(repo, h) for h in repo.hooks.values()])

    async def _get_hook(self, request: web.Request) -> web.Response:
        repo = self._repo(request.match_info["owner"], request.match_info["repo"])
        hook = repo.hooks.get(int(request.match_info["hook_id"]))
        if hook is None:
            raise web.HTTPNotFound()
        return _json(self._hook_json(repo, hook))

    async def _delete_hook(self, request: web.Request) -> web.Response:
        repo = self._repo(request.match_info["owner"], request.match_info["repo"])
        if repo.hooks.pop(int(request.match_info["hook_id"]), None) is None:
            raise web.HTTPNotFound()
        return web.Response(status=204)

    async def _create_hook(self, request: web.Request) -> web.Response:
        repo = self._repo(request.match_info["owner"], request.match_info["repo"])
        body = await _body(request)
        given = body.get("config")
        config: dict[str, Any] = given if isinstance(given, dict) else {}
        if not config.get("url"):
            return _validation_failed("Hook", "url", "create-a-repository-webhook")
        ident = self._next_id()
        full = repo.json["full_name"]
        url = f"{self.url}/repos/{full}/hooks/{ident}"
        now = gh.iso(self._tick())
        hook = {
            "type": "Repository",
            "id": ident,
            "name": "web",
            "active": bool(body.get("active", True)),
            "events": list(body.get("events") or ["push"]),
            "config": {
                "url": str(config["url"]),
                "content_type": config.get("content_type", "form"),
                "insecure_ssl": str(config.get("insecure_ssl", "0")),
                **({"secret": str(config["secret"])} if config.get("secret") else {}),
            },
            "updated_at": now,
            "created_at": now,
            "url": url,
            "test_url": url + "/test",
            "ping_url": url + "/pings",
            "deliveries_url": url + "/deliveries",
            "last_response": {"code": None, "status": "unused", "message": None},
        }
        repo.hooks[ident] = hook
        shown = self._hook_json(repo, hook)
        self._post(repo, hook, "ping", {"zen": "Design for failure.", "hook_id": ident, "hook": shown})
        return _json(shown, 201, {"Location": url})

    def emit(self, repo: Repo, event: str, action: str, **payload: Any) -> None:
        """Post GitHub's webhook for a change to every active hook of ``repo`` that takes ``event``."""
        if not repo.hooks:
            return
        body: dict[str, Any] = {"action": action}
        for key, value in payload.items():
            body[key] = gh.pull_json(value, repo.json, full=True) if key == "pull_request" else value
        for hook in list(repo.hooks.values()):
            if hook["active"] and (event in hook["events"] or "*" in hook["events"]):
                self._post(repo, hook, event, body)

    def _post(self, repo: Repo, hook: dict[str, Any], event: str, payload: dict[str, Any]) -> None:
        body = _dumps({**payload, "repository": repo.json, "sender": self.user}).encode()
        secret = str(hook["config"].get("secret") or "")
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "GitHub-Hookshot/hubwire-simulator",
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": str(uuid.uuid4()),  # the same on every attempt, as GitHub's redeliveries
            "X-GitHub-Hook-ID": str(hook["id"]),
            "X-GitHub-Hook-Installation-Target-ID": str(repo.json["id"]),
            "X-GitHub-Hook-Installation-Target-Type": "repository",
        }
        if secret:
            headers["X-Hub-Signature"] = "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()
            headers["X-Hub-Signature-256"] = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()

        def sign(_: bytes) -> dict[str, str]:
            return headers

        self.sender.send(hook["config"]["url"], body, sign)


def _dumps(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"))


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=_dumps(data).encode(),
        status=status,
        headers={"Content-Type": "application/json; charset=utf-8", **(headers or {})},
    )


def _validation_failed(resource: str, field_: str, doc: str) -> web.Response:
    # The shape of the recorded 422 (octokit fixtures, scenario "errors").
    return _json(
        {
            "message": "Validation Failed",
            "errors": [{"resource": resource, "code": "missing_field", "field": field_}],
            "documentation_url": f"https://docs.github.com/rest/issues#{doc}",
        },
        422,
    )


async def _body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()  # cached by aiohttp: the middleware read it already
    data = json.loads(raw) if raw else {}
    return data if isinstance(data, dict) else {}


def _token(header: str) -> str | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() in ("bearer", "token") and value.strip():
        return value.strip()
    return None


def _etag_matches(header: str, etag: str) -> bool:
    if not header:
        return False
    strip = etag.removeprefix("W/")
    return any(tag.strip() == "*" or tag.strip().removeprefix("W/") == strip for tag in header.split(","))


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def _norm_time(value: str) -> str:
    """A ``since`` value as GitHub's own timestamp string, so the two compare as text."""
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
