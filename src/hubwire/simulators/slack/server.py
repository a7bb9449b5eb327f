"""A local Slack (aiohttp, loopback, ephemeral port) for tests and ``hubwire simulate slack``.

Speaks the wire format of what Hubwire uses: incoming webhooks (``POST /services/T.../B.../...``
with ``{"text", "blocks"}``, answered in plain text as Slack does: ``ok``, 400 ``invalid_payload``
and ``no_text``, 403 ``invalid_token``, 404 ``channel_not_found``, 410 ``channel_is_archived``) and
the Web API under ``/api/``: ``auth.test``, ``chat.postMessage``, ``chat.update``,
``conversations.list`` (cursor paging), form or JSON bodies, bot tokens (``xoxb-``) as
``Authorization: Bearer`` or ``token=``, and Slack's errors as ``{"ok": false, "error": ...}`` with
HTTP 200. With ``rate_limits=True`` each method keeps Slack's per-tier limit and answers 429
``ratelimited`` with ``Retry-After`` beyond it.

Every call is checked against Slack's description when the specs folder is present
(:mod:`hubwire.simulators.slack.spec`): a mismatch is recorded in ``mismatches`` and answered 400
with ``MISMATCH``. It also records every request and injects faults (``fail_next``, ``slow_next``).
In-memory only; never contacts the real Slack.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import math
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from hubwire.simulators.loopback import Fault, LoopbackSimulator, RecordedRequest
from hubwire.simulators.slack.spec import SlackSpec, slack_spec

__all__ = ["DEFAULT_TOKEN", "MISMATCH", "TIER_LIMITS", "SlackSimulator"]

DEFAULT_TOKEN = "xoxb-0000000000-0000000000000-hubwiretesttoken000000"
MISMATCH = "hubwire_spec_mismatch"
TEAM_ID, BOT_USER, BOT_ID = "T0HUBWIRE", "U0HUBWIRE", "B0HUBWIRE"
# Calls allowed per window (a minute) by Slack's tiers: https://api.slack.com/apis/rate-limits.
# chat.postMessage is "special": one message a second per channel.
TIER_LIMITS: dict[str, tuple[int, float]] = {
    "auth.test": (100, 60.0),  # Tier 4 in practice
    "conversations.list": (20, 60.0),  # Tier 2
    "chat.update": (50, 60.0),  # Tier 3
    "chat.postMessage": (1, 1.0),  # per channel
    "incoming-webhook": (1, 1.0),  # per webhook
}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Channel:
    id: str
    name: str
    is_private: bool = False
    is_archived: bool = False
    created: int = field(default_factory=lambda: int(time.time()))
    messages: list[dict[str, Any]] = field(default_factory=list)


class SlackSimulator(LoopbackSimulator):
    """``async with SlackSimulator() as sim:`` -> ``sim.url`` serves a small, faithful Slack."""

    name = "Slack"

    def __init__(
        self,
        tokens: Iterable[str] = (DEFAULT_TOKEN,),
        *,
        specs_dir: Path | None = None,
        check_spec: bool = True,
        rate_limits: bool = False,
        keep_requests: int | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host=host, port=port, keep_requests=keep_requests)
        self.tokens = set(tokens)
        self.spec: SlackSpec | None = slack_spec(specs_dir) if check_spec else None
        self.rate_limits = rate_limits
        self.channels: dict[str, Channel] = {}
        self.webhooks: dict[str, str] = {}  # path -> channel id
        self._ids = itertools.count(1)
        for name in ("general", "random"):
            self.add_channel(name)

    def _kept(self) -> tuple[list[Any] | dict[Any, Any], ...]:
        return tuple(channel.messages for channel in self.channels.values())

    def _add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/services/{team}/{bot}/{secret}", self._webhook)
        router.add_route("*", "/api/{method}", self._web_api)

    @property
    def api_url(self) -> str:
        """The Web API base URL, as ``slack_sdk.WebClient(base_url=...)`` takes it."""
        return f"{self.url}/api/"

    # seeding and inspection (for tests) --------------------------------------------------
    def add_channel(self, name: str, *, is_private: bool = False, is_archived: bool = False) -> Channel:
        channel = Channel(f"C{next(self._ids):08X}", name.lstrip("#"), is_private, is_archived)
        self.channels[channel.id] = channel
        return channel

    def add_webhook(self, channel: str = "general") -> str:
        """A new incoming-webhook URL posting to ``channel`` (name or id)."""
        target = self.find_channel(channel)
        if target is None:
            raise KeyError(channel)
        path = f"/services/{TEAM_ID}/B{next(self._ids):08X}/{secrets.token_hex(12)}"
        self.webhooks[path] = target.id
        return f"{self.url}{path}"

    def find_channel(self, ref: str) -> Channel | None:
        if ref in self.channels:
            return self.channels[ref]
        name = ref.lstrip("#")
        return next((c for c in self.channels.values() if c.name == name), None)

    def messages(self, channel: str) -> list[dict[str, Any]]:
        found = self.find_channel(channel)
        return [] if found is None else found.messages

    # internals --------------------------------------------------------------------------
    def _fault_response(self, fault: Fault, request: RecordedRequest) -> web.StreamResponse:
        """A 429 is Slack's ``ratelimited``; anything else an empty error (``internal_error`` on webhooks)."""
        headers = {} if fault.retry_after is None else {"Retry-After": str(math.ceil(fault.retry_after))}
        webhook = request.path.startswith("/services/")
        if fault.status == 429:
            return _text("rate_limited", 429, headers) if webhook else _error("ratelimited", 429, headers)
        return _text("internal_error" if webhook else "", fault.status or 500, headers)

    def _not_found(self, request: RecordedRequest) -> web.StreamResponse:
        return _text("", 404)

    def _limited(self, key: str, limit: tuple[int, float]) -> int | None:
        """Seconds to wait when ``key`` is over its limit, else None (and the call is counted)."""
        if not self.rate_limits:
            return None
        wait = self._limit_wait(key, *limit, time.monotonic())
        return None if wait is None else max(1, math.ceil(wait))

    def _mismatch(self, request: web.Request, problems: Iterable[str]) -> list[str]:
        found = [f"{request.method} {request.path_qs}: {p}" for p in problems]
        self.mismatches.extend(found)
        return found

    # incoming webhooks ------------------------------------------------------------------
    async def _webhook(self, request: web.Request) -> web.Response:
        channel_id = self.webhooks.get(request.path)
        if channel_id is None:
            return _text("invalid_token", 403)
        payload = await _webhook_payload(request)
        if payload is None:
            return _text("invalid_payload", 400)
        if self.spec is not None:
            check = self.spec.check_webhook(payload)
            if not check.ok:
                found = self._mismatch(request, check.problems)
                return _text(f"{MISMATCH}: {'; '.join(found)}", 400)
        if not payload.get("text") and not payload.get("blocks") and not payload.get("attachments"):
            return _text("no_text", 400)
        channel = self.channels.get(channel_id)
        if channel is None:
            return _text("channel_not_found", 404)
        if channel.is_archived:
            return _text("channel_is_archived", 410)
        wait = self._limited(f"webhook {request.path}", TIER_LIMITS["incoming-webhook"])
        if wait is not None:
            return _text("rate_limited", 429, {"Retry-After": str(wait)})
        self._post(channel, payload, webhook=True)
        return _text("ok", 200)

    # Web API -----------------------------------------------------------------------------
    async def _web_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args, json_body, bad_body = await _call_args(request)
        if bad_body:
            return _error("invalid_json" if json_body else "invalid_form_data")
        bearer = _bearer(request.headers.get("Authorization", ""))
        if self.spec is not None:
            check = self.spec.check_call(method, args, bearer=bearer is not None, json_body=json_body)
            if not check.ok:
                found = self._mismatch(request, check.problems)
                return _json({"ok": False, "error": MISMATCH, "mismatches": found}, 400)
        token = bearer or args.get("token")
        if json_body and bearer is None:
            return _error("not_authed")  # Slack takes JSON bodies only with the token in the header
        if not token:
            return _error("not_authed")
        if token not in self.tokens:
            return _error("invalid_auth")
        handler = _METHODS.get(method)
        if handler is None:
            return _error("unknown_method")
        limit_key = method if method != "chat.postMessage" else f"{method} {args.get('channel')}"
        wait = self._limited(f"{token} {limit_key}", TIER_LIMITS[method])
        if wait is not None:
            return _error("ratelimited", 429, {"Retry-After": str(wait)})
        return handler(self, args)

    def _auth_test(self, args: Mapping[str, Any]) -> web.Response:
        return _ok(
            url="https://hubwire-test.slack.com/",
            team="Hubwire Test",
            user="hubwire-bot",
            team_id=TEAM_ID,
            user_id=BOT_USER,
            bot_id=BOT_ID,
            is_enterprise_install=False,
        )

    def _post_message(self, args: Mapping[str, Any]) -> web.Response:
        channel = self.find_channel(str(args.get("channel", "")))
        if channel is None:
            return _error("channel_not_found")
        if channel.is_archived:
            return _error("is_archived")
        if not args.get("text") and not args.get("blocks") and not args.get("attachments"):
            return _error("no_text")
        blocks = _structured(args.get("blocks"))
        if blocks is not None and not isinstance(blocks, list):
            return _error("invalid_blocks")
        message = self._post(channel, {**args, "blocks": blocks}, webhook=False)
        return _ok(channel=channel.id, ts=message["ts"], message=message)

    def _update(self, args: Mapping[str, Any]) -> web.Response:
        channel = self.find_channel(str(args.get("channel", "")))
        if channel is None:
            return _error("channel_not_found")
        message = next((m for m in channel.messages if m["ts"] == args.get("ts")), None)
        if message is None:
            return _error("message_not_found")
        if not args.get("text") and not args.get("blocks") and not args.get("attachments"):
            return _error("no_text")
        message["text"] = str(args.get("text", ""))
        blocks = _structured(args.get("blocks"))
        if blocks is not None:
            message["blocks"] = blocks
        message["edited"] = {"user": BOT_USER, "ts": _ts(next(self._ids))}
        return _ok(channel=channel.id, ts=message["ts"], text=message["text"], message=message)

    def _list_conversations(self, args: Mapping[str, Any]) -> web.Response:
        types = set(str(args.get("types") or "public_channel").split(","))
        exclude_archived = str(args.get("exclude_archived", "false")).lower() in ("true", "1")
        chosen = [
            c
            for c in self.channels.values()
            if ("private_channel" if c.is_private else "public_channel") in types
            and not (exclude_archived and c.is_archived)
        ]
        limit = min(1000, max(1, _int(args.get("limit"), 100)))
        start = 0
        if args.get("cursor"):
            try:
                after = base64.b64decode(str(args["cursor"]), validate=True).decode().removeprefix("channel:")
            except (binascii.Error, UnicodeDecodeError):
                return _error("invalid_cursor")
            start = next((i for i, c in enumerate(chosen) if c.id == after), -1)
            if start < 0:
                return _error("invalid_cursor")
        page = chosen[start : start + limit]
        rest = chosen[start + limit :]
        next_cursor = base64.b64encode(f"channel:{rest[0].id}".encode()).decode() if rest else ""
        return _ok(channels=[_channel_json(c) for c in page], response_metadata={"next_cursor": next_cursor})

    def _post(self, channel: Channel, args: Mapping[str, Any], *, webhook: bool) -> dict[str, Any]:
        message: dict[str, Any] = {
            "type": "message",
            "subtype": "bot_message",
            "text": str(args.get("text") or ""),
            "ts": _ts(next(self._ids)),
            "bot_id": BOT_ID,
            "team": TEAM_ID,
        }
        if not webhook:
            message["user"] = BOT_USER
        blocks = _structured(args.get("blocks"))
        if blocks:
            message["blocks"] = blocks
        if args.get("thread_ts"):
            message["thread_ts"] = str(args["thread_ts"])
        channel.messages.append(message)
        return message


_METHODS: dict[str, Callable[[SlackSimulator, Mapping[str, Any]], web.Response]] = {
    "auth.test": SlackSimulator._auth_test,
    "chat.postMessage": SlackSimulator._post_message,
    "chat.update": SlackSimulator._update,
    "conversations.list": SlackSimulator._list_conversations,
}


def _int(value: Any, default: int) -> int:
    try:
        return int(value) if value not in (None, "") else default
    except (TypeError, ValueError):
        return default


def _ts(n: int) -> str:
    return f"{int(time.time())}.{n:06d}"


def _channel_json(c: Channel) -> dict[str, Any]:
    return {
        "id": c.id,
        "name": c.name,
        "name_normalized": c.name,
        "is_channel": not c.is_private,
        "is_group": c.is_private,
        "is_im": False,
        "is_mpim": False,
        "is_private": c.is_private,
        "is_archived": c.is_archived,
        "is_general": c.name == "general",
        "is_member": True,
        "created": c.created,
        "creator": BOT_USER,
        "num_members": 1,
    }


def _structured(value: Any) -> Any:
    """``blocks``/``attachments``: a JSON value in a JSON body, a JSON string in a form body."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


async def _call_args(request: web.Request) -> tuple[dict[str, Any], bool, bool]:
    """The call's arguments (query and body), whether the body was JSON, and whether it was unreadable."""
    args: dict[str, Any] = dict(request.query)
    raw = await request.read()
    if not raw:
        return args, False, False
    if request.content_type == "application/json":
        try:
            data = json.loads(raw)
        except ValueError:
            return args, True, True
        if not isinstance(data, dict):
            return args, True, True
        return {**args, **data}, True, False
    form = await request.post()
    return {**args, **{k: v for k, v in form.items() if isinstance(v, str)}}, False, False


async def _webhook_payload(request: web.Request) -> dict[str, Any] | None:
    """The JSON message, or the ``payload=`` form field Slack also accepts; None when unreadable."""
    raw = await request.read()
    if request.content_type == "application/x-www-form-urlencoded":
        raw = str((await request.post()).get("payload", "")).encode()
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _bearer(header: str) -> str | None:
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _json(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(
        body=json.dumps(data).encode(),
        status=status,
        headers={"Content-Type": "application/json; charset=utf-8", **(headers or {})},
    )


def _ok(**fields: Any) -> web.Response:
    return _json({"ok": True, **fields})


def _error(code: str, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    # Slack answers its errors with HTTP 200 (rate limits aside) and ok: false.
    return _json({"ok": False, "error": code}, status, headers)


def _text(text: str, status: int, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(text=text, status=status, headers=dict(headers or {}))
