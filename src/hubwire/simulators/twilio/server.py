"""A local Twilio Messages API (aiohttp, loopback, ephemeral port) for tests and ``hubwire simulate twilio``.

Speaks the wire format of what Hubwire uses: ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json``
(form body ``To``, ``From`` or ``MessagingServiceSid``, ``Body``, ``StatusCallback``; 201 with Twilio's
message resource, ``sid`` ``SM...``, ``status`` ``queued``), ``GET .../Messages/{Sid}.json`` and the list
with Twilio's paging (``PageSize``, ``Page``, ``PageToken``, ``next_page_uri``), newest first. HTTP
Basic auth with the Account SID and auth token, or an API key SID and secret. Errors are Twilio's
body ``{"code", "message", "more_info", "status"}``: 20003 (401) for credentials, 20404, 21211
(invalid ``To``), 21602 (no body), 21603 (no ``From``), 21606 (a ``From`` the account does not own),
20429 (429, with ``Retry-After`` when injected).

After a send with a ``StatusCallback``, the simulator POSTs the status progression (queued -> sent ->
delivered; or failed / undelivered for a number given to ``set_fate``) to that URL, form-encoded and
signed with ``X-Twilio-Signature`` as Twilio signs (HMAC-SHA1 of the URL and the sorted parameters,
keyed by the account's auth token). Callbacks go only to loopback addresses unless
``allow_remote_callbacks`` is set.

Every request is checked against Twilio's OpenAPI description when the specs folder is present
(:mod:`hubwire.simulators.twilio.spec`): a mismatch is recorded in ``mismatches`` and answered 400
with ``MISMATCH`` as the message. It also records every request and injects faults (``fail_next``,
``slow_next``). In-memory only; never contacts the real Twilio.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import ipaddress
import json
import math
import re
import secrets
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any, Self
from urllib.parse import urlencode, urlsplit

import aiohttp
from aiohttp import web

from hubwire.simulators.loopback import Fault, LoopbackSimulator, RecordedRequest
from hubwire.simulators.twilio.spec import TwilioSpec, twilio_spec

__all__ = [
    "DEFAULT_ACCOUNT_SID",
    "DEFAULT_API_KEY_SECRET",
    "DEFAULT_API_KEY_SID",
    "DEFAULT_AUTH_TOKEN",
    "DEFAULT_FROM",
    "DEFAULT_SERVICE_SID",
    "MISMATCH",
    "StatusCallback",
    "TwilioSimulator",
    "signature",
]

DEFAULT_ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
DEFAULT_AUTH_TOKEN = "hubwire-test-auth-token-0000000000"
DEFAULT_API_KEY_SID = "SK" + "fedcba9876543210" * 2
DEFAULT_API_KEY_SECRET = "hubwire-test-api-key-secret-00000"
DEFAULT_FROM = "+15005550006"
DEFAULT_SERVICE_SID = "MG" + "00112233445566778899aabbccddeeff"
MISMATCH = "Hubwire Twilio simulator: request does not match Twilio's OpenAPI description"
API = "/2010-04-01"
_E164 = re.compile(r"^(whatsapp:)?\+[1-9]\d{6,14}$")
# The error code a message's final status carries (Twilio's 30xxx delivery errors).
_FATES: dict[str, tuple[int, str] | None] = {
    "delivered": None,
    "undelivered": (30003, "Unreachable destination handset"),
    "failed": (30008, "Unknown error"),
}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class StatusCallback:
    """One status callback the simulator sent: where, what, its signature and the answer (0: no answer)."""

    url: str
    params: dict[str, str]
    signature: str
    status: int = 0


@dataclass
class _Account:
    sid: str
    auth_token: str
    numbers: set[str]
    services: set[str]
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)  # sid -> resource, in creation order


def signature(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    """``X-Twilio-Signature``: base64 HMAC-SHA1, keyed by the auth token, of the URL and each sorted
    parameter name followed by its value."""
    payload = url + "".join(k + params[k] for k in sorted(params))
    return base64.b64encode(hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()).decode()


class TwilioSimulator(LoopbackSimulator):
    """``async with TwilioSimulator() as sim:`` -> ``sim.url`` serves Twilio's Messages API."""

    name = "Twilio"

    def __init__(
        self,
        *,
        account_sid: str = DEFAULT_ACCOUNT_SID,
        auth_token: str = DEFAULT_AUTH_TOKEN,
        api_keys: Mapping[str, str] | None = None,
        numbers: Iterable[str] = (DEFAULT_FROM,),
        messaging_services: Iterable[str] = (DEFAULT_SERVICE_SID,),
        callback_interval: float = 0.0,
        allow_remote_callbacks: bool = False,
        specs_dir: Path | None = None,
        check_spec: bool = True,
        keep_requests: int | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host=host, port=port, keep_requests=keep_requests)
        self.account = _Account(account_sid, auth_token, set(numbers), set(messaging_services))
        # API key SID -> secret; a key acts for the account.
        self.api_keys = dict(api_keys if api_keys is not None else {DEFAULT_API_KEY_SID: DEFAULT_API_KEY_SECRET})
        self.callback_interval = callback_interval
        self.allow_remote_callbacks = allow_remote_callbacks
        self.spec: TwilioSpec | None = twilio_spec(specs_dir) if check_spec else None
        self.callbacks: list[StatusCallback] = []
        self._fates: dict[str, str] = {}
        self._pending: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None

    # lifecycle ------------------------------------------------------------------------
    def _kept(self) -> tuple[list[Any] | dict[Any, Any], ...]:
        return (self.callbacks, self.account.messages)

    def _add_routes(self, router: web.UrlDispatcher) -> None:
        base = f"{API}/Accounts/{{account}}"
        router.add_post(f"{base}/Messages.json", self._create)
        router.add_get(f"{base}/Messages.json", self._list)
        router.add_get(f"{base}/Messages/{{sid}}.json", self._fetch)

    async def start(self) -> Self:
        await super().start()
        # Status callbacks go out through this session.
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        return self

    async def stop(self) -> None:
        for task in self._pending:
            task.cancel()
        await asyncio.gather(*self._pending, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None
        await super().stop()

    # outcomes, faults and inspection (for tests) -------------------------------------------
    def set_fate(self, to: str, status: str) -> None:
        """Messages to ``to`` end ``delivered`` (the default), ``undelivered`` or ``failed``."""
        if status not in _FATES:
            raise ValueError(f"status must be one of {sorted(_FATES)}, not {status!r}")
        self._fates[to] = status

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.account.messages.values())

    async def settle(self) -> None:
        """Wait until every status callback scheduled so far has been sent."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    # internals --------------------------------------------------------------------------
    def _refuse(self, request: web.Request) -> web.StreamResponse | None:
        """Twilio checks the credentials before anything else."""
        if self._authenticated(request):
            return None
        return _error(20003, "Authenticate", 401, {"WWW-Authenticate": 'Basic realm="Twilio API"'})

    def _fault_response(self, fault: Fault, request: RecordedRequest) -> web.StreamResponse:
        headers = {} if fault.retry_after is None else {"Retry-After": str(math.ceil(fault.retry_after))}
        if fault.status == 429:
            return _error(20429, "Too Many Requests", 429, headers)
        return _error(20500, "Internal Server Error", fault.status or 500, headers)

    def _not_found(self, request: RecordedRequest) -> web.StreamResponse:
        return _error(20404, f"The requested resource {request.path} was not found", 404)

    async def _dispatch(self, request: web.Request, handler: Handler, recorded: RecordedRequest) -> web.StreamResponse:
        if self.spec is not None:
            check = self.spec.check_request(
                request.method, request.path, list(request.query.items()), request.headers, recorded.body
            )
            if not check.ok:
                found = [f"{request.method} {request.path_qs}: {p}" for p in check.problems]
                self.mismatches.extend(found)
                return _error(0, f"{MISMATCH}: {'; '.join(check.problems)}", 400, mismatches=found)
        return await handler(request)

    def _authenticated(self, request: web.Request) -> bool:
        """Basic auth as the account (SID + auth token) or one of its API keys, for this account's paths."""
        login, password = _basic(request.headers.get("Authorization", ""))
        if login == self.account.sid:
            ok = hmac.compare_digest(password, self.account.auth_token)
        else:
            secret = self.api_keys.get(login)
            ok = secret is not None and hmac.compare_digest(password, secret)
        return ok and request.match_info.get("account") == self.account.sid

    async def _create(self, request: web.Request) -> web.Response:
        form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        to, sender, service = form.get("To", ""), form.get("From"), form.get("MessagingServiceSid")
        if not _E164.match(to):
            return _error(21211, f"Invalid 'To' Phone Number: {to}", 400)
        if not sender and not service:
            return _error(21603, "A 'From' phone number is required.", 400)
        if service and service not in self.account.services:
            return _error(21703, "The Messaging Service Sid is invalid.", 400)
        if sender and sender.removeprefix("whatsapp:") not in self.account.numbers:
            return _error(
                21606, f"The From phone number {sender} is not a valid message-capable Twilio phone number.", 400
            )
        if not form.get("Body") and not form.get("MediaUrl") and not form.get("ContentSid"):
            return _error(21602, "Message body is required.", 400)
        if len(form.get("Body", "")) > 1600:
            return _error(21617, "The concatenated message body exceeds the 1600 character limit.", 400)
        sid = "SM" + secrets.token_hex(16)
        now = _date(datetime.now(UTC))
        body = form.get("Body", "")
        message: dict[str, Any] = {
            "account_sid": self.account.sid,
            "api_version": "2010-04-01",
            "body": body,
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": sender or DEFAULT_FROM,
            "messaging_service_sid": service,
            "num_media": "1" if form.get("MediaUrl") else "0",
            "num_segments": str(max(1, math.ceil(len(body) / 153)) if len(body) > 160 else 1),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "queued",
            "subresource_uris": {"media": f"{API}/Accounts/{self.account.sid}/Messages/{sid}/Media.json"},
            "to": to,
            "uri": f"{API}/Accounts/{self.account.sid}/Messages/{sid}.json",
        }
        self.account.messages[sid] = message
        if form.get("StatusCallback"):
            task = asyncio.create_task(self._progress(message, form["StatusCallback"]))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)
        return _json(message, 201)

    async def _fetch(self, request: web.Request) -> web.Response:
        message = self.account.messages.get(request.match_info["sid"])
        if message is None:
            raise web.HTTPNotFound()
        return _json(message)

    async def _list(self, request: web.Request) -> web.Response:
        q = request.query
        items = list(reversed(self.account.messages.values()))  # newest first, as Twilio lists them
        if "To" in q:
            items = [m for m in items if m["to"] == q["To"]]
        if "From" in q:
            items = [m for m in items if m["from"] == q["From"]]
        size = min(1000, max(1, _int(q.get("PageSize"), 50)))
        page = max(0, _int(q.get("Page"), 0))
        chunk = items[page * size : (page + 1) * size]
        base = [(k, v) for k, v in q.items() if k not in ("Page", "PageSize", "PageToken")]

        def uri(n: int, token: str | None = None) -> str:
            extra = [("PageToken", token)] if token else []
            return f"{request.path}?{urlencode([*base, ('PageSize', str(size)), ('Page', str(n)), *extra])}"

        more = len(items) > (page + 1) * size
        return _json(
            {
                "end": page * size + max(0, len(chunk) - 1),
                "first_page_uri": uri(0),
                "next_page_uri": uri(page + 1, f"PA{chunk[-1]['sid']}") if more else None,
                "page": page,
                "page_size": size,
                "previous_page_uri": uri(page - 1, f"PB{chunk[0]['sid']}") if page > 0 and chunk else None,
                "start": page * size,
                "uri": request.path_qs,
                "messages": chunk,
            }
        )

    async def _progress(self, message: dict[str, Any], url: str) -> None:
        """Move the message through its statuses, telling ``url`` about each one."""
        fate = self._fates.get(message["to"], "delivered")
        steps = {"delivered": ["sent", "delivered"], "undelivered": ["sent", "undelivered"], "failed": ["failed"]}
        await self._callback(message, url)  # queued
        for status in steps[fate]:
            if self.callback_interval:
                await asyncio.sleep(self.callback_interval)
            message["status"] = status
            message["date_updated"] = _date(datetime.now(UTC))
            if status == "sent":
                message["date_sent"] = message["date_updated"]
            error = _FATES[fate] if status == fate else None
            if error is not None:
                message["error_code"], message["error_message"] = error
            await self._callback(message, url)

    async def _callback(self, message: Mapping[str, Any], url: str) -> None:
        params = {
            "AccountSid": message["account_sid"],
            "ApiVersion": message["api_version"],
            "From": message["from"],
            "MessageSid": message["sid"],
            "MessageStatus": message["status"],
            "SmsSid": message["sid"],
            "SmsStatus": message["status"],
            "To": message["to"],
        }
        if message["messaging_service_sid"]:
            params["MessagingServiceSid"] = message["messaging_service_sid"]
        if message["error_code"] is not None:
            params["ErrorCode"] = str(message["error_code"])
        record = StatusCallback(url, params, signature(self.account.auth_token, url, params))
        self.callbacks.append(record)
        if not self.allow_remote_callbacks and not _loopback(url):
            return  # never leaves the machine; the record shows what would have been sent
        assert self._session is not None
        headers = {"X-Twilio-Signature": record.signature, "User-Agent": "TwilioProxy/1.1"}
        try:
            async with self._session.post(url, data=params, headers=headers) as resp:
                record.status = resp.status
        except (aiohttp.ClientError, TimeoutError):
            record.status = 0


def _basic(header: str) -> tuple[str, str]:
    """The user and password of a Basic ``Authorization`` header; empty strings when there is none."""
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return "", ""
    try:
        user, _, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return "", ""
    return user, password


def _loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _date(dt: datetime) -> str:
    return format_datetime(dt)  # Twilio's RFC 2822 dates: "Thu, 24 Aug 2023 05:01:45 +0000"


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def _json(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(
        body=json.dumps(data).encode(), status=status, headers={"Content-Type": "application/json", **(headers or {})}
    )


def _error(
    code: int,
    message: str,
    status: int,
    headers: Mapping[str, str] | None = None,
    mismatches: list[str] | None = None,
) -> web.Response:
    """Twilio's error body; a spec mismatch (code 0) adds the simulator's own ``mismatches`` list."""
    body: dict[str, Any] = {
        "code": code or None,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}" if code else None,
        "status": status,
    }
    if mismatches:
        body["mismatches"] = mismatches
    return _json(body, status, headers)
