"""A local Stripe API server on loopback, checked against Stripe's OpenAPI description.

Owns the HTTP face of the simulated account (:class:`StripeSimulator`): API-key auth and its 401s,
form bodies in bracket notation, list objects and pagination, expansion, Stripe's error objects,
``Idempotency-Key`` replay, ``Request-Id``, webhook endpoints and the signed events they are sent
in the background (:mod:`hubwire.simulators.stripe.webhooks`), fault injection (5xx bursts, 429s, slow answers),
a per-second rate limit, and the record of every request (``requests``, ``request_times``; the last
``keep_requests`` of them when set, for a long-running ``hubwire simulate``). When
the specs folder is present every request is checked against the spec first; a violation is
recorded in ``mismatches`` and answered with a distinctive 400 so no test can pass with it.
Never contacts the real Stripe and never listens beyond the host it is given (127.0.0.1 by default).
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import json
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from hubwire.simulators.loopback import drop_oldest, most_within, serving_in_thread
from hubwire.simulators.specs import RequestCheck, locate_specs_dir
from hubwire.simulators.stripe.objects import API_VERSION, RESOURCES, StripeError, coerce
from hubwire.simulators.stripe.spec import FORM, StripeSpecChecker, parse_brackets
from hubwire.simulators.stripe.state import _SUB_HIDDEN, StripeState
from hubwire.simulators.stripe.webhooks import StripeWebhookEndpoints
from hubwire.simulators.webhook_sender import WebhookSender

__all__ = ["Fault", "RecordedRequest", "StripeSimulator"]

_COLLECTIONS = {collection: name for name, (collection, _, _) in RESOURCES.items()}
_DELETABLE = frozenset({"customer", "product", "plan", "invoice"})
_FILTERS: dict[str, tuple[str, ...]] = {
    "customer": ("email",),
    "product": ("active",),
    "price": ("active", "product", "type", "currency"),
    "plan": ("active", "product"),
    "subscription": ("customer", "status"),
    "invoice": ("customer", "subscription", "status"),
    "payment_intent": ("customer",),
    "charge": ("customer", "payment_intent"),
}
# Top-level write params accepted when no spec is there to say (the spec's own lists win when present).
_BUILTIN_WRITE_PARAMS: dict[str, frozenset[str]] = {
    name: frozenset(names.split())
    for name, names in {
        "customer": "address balance description email invoice_prefix invoice_settings metadata name phone "
        "preferred_locales shipping tax_exempt payment_method source test_clock expand coupon promotion_code "
        "default_source next_invoice_sequence tax tax_id_data cash_balance",
        "product": "id name active description metadata images shippable statement_descriptor tax_code unit_label "
        "url default_price_data default_price features package_dimensions expand",
        "price": "currency unit_amount unit_amount_decimal product product_data recurring nickname lookup_key "
        "active metadata billing_scheme tax_behavior transfer_lookup_key tiers tiers_mode transform_quantity "
        "custom_unit_amount currency_options expand",
        "plan": "id amount amount_decimal currency interval interval_count product nickname active metadata "
        "trial_period_days usage_type aggregate_usage billing_scheme tiers tiers_mode transform_usage expand",
        "subscription": "customer items metadata cancel_at_period_end cancel_at collection_method days_until_due "
        "default_payment_method description trial_end trial_period_days proration_behavior payment_behavior "
        "billing_cycle_anchor coupon promotion_code currency off_session expand cancellation_details "
        "default_tax_rates pause_collection",
        "invoice": "customer subscription auto_advance collection_method description metadata days_until_due "
        "due_date currency expand footer",
        "payment_intent": "amount currency customer description metadata payment_method payment_method_types "
        "confirm capture_method receipt_email setup_future_usage off_session return_url expand "
        "automatic_payment_methods statement_descriptor",
        "charge": "amount currency customer source description metadata capture receipt_email expand "
        "statement_descriptor",
    }.items()
}


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the simulator received it."""

    method: str
    path: str
    raw_query: str
    query: dict[str, Any]
    form: dict[str, Any]
    headers: dict[str, str]
    body: bytes
    time: float


@dataclass
class Fault:
    """An injected failure for one upcoming request: wait ``delay`` s, then answer ``status`` (None: normally)."""

    status: int | None = 500
    retry_after: float | None = None
    delay: float | None = None


@dataclass
class _Stored:
    fingerprint: tuple[str, str, tuple[tuple[str, str], ...]]
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


def _mask(key: str) -> str:
    cut = key.find("_", key.find("_") + 1) + 1 if key.count("_") >= 2 else min(3, len(key))
    return f"{key[:cut]}****{key[-4:]}"


class StripeSimulator:
    """A Stripe API on ``http://127.0.0.1:PORT`` (paths under ``/v1/``); use ``async with`` or start/stop."""

    def __init__(
        self,
        api_keys: tuple[str, ...] | list[str] = ("sk_test_hubwire",),
        specs_dir: Path | None = None,
        rate_limit: int | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        check_spec: bool = True,
        now: Callable[[], float] = time.time,
        keep_requests: int | None = None,
    ) -> None:
        self.api_keys = frozenset(api_keys)
        self.specs_dir = specs_dir if specs_dir is not None else locate_specs_dir()
        self.rate_limit = rate_limit
        self.host, self.port = host, port
        self.checker = StripeSpecChecker.from_specs_dir(self.specs_dir) if self.specs_dir and check_spec else None
        self.state = StripeState(self.specs_dir, now)
        # Webhooks: the endpoints registered through the API, sent every event the account records.
        self.sender = WebhookSender()
        self.webhooks = StripeWebhookEndpoints(self.state.templates, self.sender, now)
        self.state.listeners.append(self.webhooks.deliver)
        self.requests: list[RecordedRequest] = []
        self.request_times: list[float] = []
        self.mismatches: list[str] = []
        # None keeps every request (tests slice it); a long-running ``hubwire simulate`` keeps the last N.
        self.keep_requests = keep_requests
        self._faults: collections.deque[Fault] = collections.deque()
        self._window: collections.deque[float] = collections.deque()
        self._idempotency: dict[tuple[str, str], _Stored] = {}
        self._runner: web.AppRunner | None = None
        self._closing = asyncio.Event()

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def store(self) -> dict[str, dict[str, dict[str, Any]]]:
        return self.state.store

    async def start(self) -> StripeSimulator:
        app = web.Application(client_max_size=8 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._closing = asyncio.Event()
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        if self.port == 0:
            self.port = int(self._runner.addresses[0][1])
        await self.sender.start()
        return self

    async def stop(self) -> None:
        self._closing.set()
        await self.sender.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def serving_in_thread(self) -> contextlib.AbstractContextManager[StripeSimulator]:
        """Serve from a background thread with its own event loop, for synchronous clients (the sync SDK, dlt).

        Seed and inspect from the calling thread between requests, not while a client is mid-request.
        """
        return serving_in_thread(self, "Stripe")

    async def __aenter__(self) -> StripeSimulator:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # -- test controls --------------------------------------------------------------------------

    def seed(self, resource: str, **fields: Any) -> dict[str, Any]:
        """Store a pre-existing object (no event) built from the template; returns it (live, not a copy)."""
        return self.state.seed(resource, **fields)

    def seed_many(self, resource: str, n: int, **fields: Any) -> list[dict[str, Any]]:
        return self.state.seed_many(resource, n, **fields)

    def update(self, resource: str, ident: str, **fields: Any) -> dict[str, Any]:
        """Change an object as the Stripe dashboard would: fields set, ``<type>.updated`` event recorded."""
        return self.state.update(resource, ident, fields)

    def delete(self, resource: str, ident: str) -> None:
        """Delete (or, for a subscription, cancel) an object as the dashboard would, with its event."""
        if resource == "subscription":
            self.state.cancel_subscription(ident)
        else:
            self.state.delete(resource, ident)

    def fail_next(
        self, n: int = 1, status: int | None = 500, retry_after: float | None = None, delay: float | None = None
    ) -> None:
        """The next ``n`` requests fail: optional ``delay`` seconds first, then ``status`` (None: answer normally)."""
        self._faults.extend(Fault(status, retry_after, delay) for _ in range(n))

    def max_requests_per_second(self, window: float = 1.0) -> int:
        """The most requests received within any ``window`` seconds."""
        return most_within(self.request_times, window)

    def requests_to(self, method: str, path_prefix: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == method.upper() and r.path.startswith(path_prefix)]

    # -- HTTP -----------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        request_id = "req_" + secrets.token_hex(7)
        raw_body = await request.read()
        content_type = request.headers.get("Content-Type")
        query_pairs = parse_qsl(request.query_string, keep_blank_values=True)
        is_form = (content_type or "").split(";")[0].strip().lower() == FORM
        body_pairs = parse_qsl(raw_body.decode("utf-8", "replace"), keep_blank_values=True) if is_form else []
        query, form = parse_brackets(query_pairs), parse_brackets(body_pairs)
        now = time.monotonic()
        self.request_times.append(now)
        self.requests.append(
            RecordedRequest(
                request.method, request.path, request.query_string, query, form, dict(request.headers), raw_body, now
            )
        )
        # The idempotency keys too (Stripe forgets them after 24 hours); mismatches of earlier requests.
        for kept in (self.requests, self.request_times, self.mismatches, self._idempotency):
            drop_oldest(kept, self.keep_requests)
        headers = {"Request-Id": request_id, "Stripe-Version": request.headers.get("Stripe-Version", API_VERSION)}
        idem_key = request.headers.get("Idempotency-Key")
        if idem_key:
            headers["Idempotency-Key"] = idem_key
        verdict = self._spec_verdict(request.method, request.path, query, form, content_type, bool(raw_body))
        try:
            if self._faults:
                fault = self._faults.popleft()
                if fault.delay:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._closing.wait(), fault.delay)
                if fault.status is not None:
                    raise self._fault_error(fault)
            self._check_rate(now)
            api_key = self._authenticate(request.headers.get("Authorization"))
            self._reject_mismatch(request.method, request.path, verdict)
            if request.method in ("POST", "DELETE") and idem_key:
                fingerprint = (request.method, request.path, tuple(sorted(query_pairs + body_pairs)))
                stored = self._idempotency.get((api_key, idem_key))
                if stored is not None:
                    if stored.fingerprint != fingerprint:
                        raise StripeError(
                            400,
                            "Keys for idempotent requests can only be used with the same parameters they were first "
                            f"used with. Try using a key other than '{idem_key}' if you meant to execute a "
                            "different request.",
                            type="idempotency_error",
                        )
                    return self._json(stored.status, stored.body, {**headers, "Idempotent-Replayed": "true"})
                status, body = self._dispatch(request.method, request.path, query, form, (request_id, idem_key))
                self._idempotency[(api_key, idem_key)] = _Stored(fingerprint, status, body)
                return self._json(status, body, headers)
            status, body = self._dispatch(request.method, request.path, query, form, (request_id, idem_key))
            return self._json(status, body, headers)
        except StripeError as err:
            return self._json(err.status, err.body, {**headers, **err.headers})

    def _dispatch(
        self, method: str, path: str, query: dict[str, Any], form: dict[str, Any], req: tuple[str, str | None]
    ) -> tuple[int, Any]:
        """(status, body) of a checked request; a StripeError raised by a write is stored for replay too."""
        try:
            return 200, self._route(method, path, coerce(query), coerce(form), req)
        except StripeError as err:
            if err.status >= 500 or err.status == 429:
                raise
            return err.status, err.body

    @staticmethod
    def _json(status: int, body: Any, headers: dict[str, str]) -> web.Response:
        return web.Response(status=status, text=json.dumps(body), content_type="application/json", headers=headers)

    def _fault_error(self, fault: Fault) -> StripeError:
        headers = {} if fault.retry_after is None else {"Retry-After": str(math.ceil(fault.retry_after))}
        if fault.status == 429:
            return self._rate_error(headers)
        return StripeError(
            fault.status or 500, "An unknown error occurred (injected by the simulator).", type="api_error",
            headers={**headers, "Stripe-Should-Retry": "true"},
        )  # fmt: skip

    @staticmethod
    def _rate_error(headers: dict[str, str]) -> StripeError:
        # The 2023-08-16 spec's error ``type`` enum has no "rate_limit_error": Stripe answers 429s with
        # type invalid_request_error and code rate_limit.
        return StripeError(
            429,
            "Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.",
            code="rate_limit",
            headers=headers,
        )

    def _check_rate(self, now: float) -> None:
        if self.rate_limit is None:
            return
        while self._window and now - self._window[0] >= 1.0:
            self._window.popleft()
        if len(self._window) >= self.rate_limit:
            wait = 1.0 - (now - self._window[0])
            raise self._rate_error({"Retry-After": str(max(1, math.ceil(wait)))})
        self._window.append(now)

    def _authenticate(self, header: str | None) -> str:
        key = ""
        if header:
            scheme, _, value = header.partition(" ")
            if scheme.lower() == "bearer":
                key = value.strip()
            elif scheme.lower() == "basic":
                try:
                    key = base64.b64decode(value.strip()).decode().partition(":")[0]
                except (ValueError, UnicodeDecodeError):
                    key = ""
        if not key:
            raise StripeError(
                401,
                "You did not provide an API key. You need to provide your API key in the Authorization header, "
                "using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
                headers={"WWW-Authenticate": 'Basic realm="Stripe"'},
            )
        if key not in self.api_keys:
            raise StripeError(
                401, f"Invalid API Key provided: {_mask(key)}", headers={"WWW-Authenticate": 'Basic realm="Stripe"'}
            )
        return key

    def _spec_verdict(
        self, method: str, path: str, query: dict[str, Any], form: dict[str, Any], ctype: str | None, has_body: bool
    ) -> RequestCheck | None:
        """Every request is checked, even one about to get an injected fault; problems are recorded at once."""
        if self.checker is None:
            return None
        verdict = self.checker.check(method, path, query, form, ctype, has_body)
        self.mismatches.extend(verdict.problems)
        return verdict

    @staticmethod
    def _reject_mismatch(method: str, path: str, verdict: RequestCheck | None) -> None:
        if verdict is None or verdict.ok:
            return
        if verdict.operation is None:
            raise StripeError(404, f"Unrecognized request URL ({method}: {path}). (simulator: not in Stripe's spec)")
        if verdict.unknown_params and len(verdict.unknown_params) == len(verdict.problems):
            name = verdict.unknown_params[0]
            raise StripeError(400, f"Received unknown parameter: {name}", code="parameter_unknown", param=name)
        raise StripeError(
            400, "Request does not match Stripe's OpenAPI description: " + "; ".join(verdict.problems),
            code="simulator_spec_mismatch",
        )  # fmt: skip

    # -- routes ---------------------------------------------------------------------------------

    def _route(
        self, method: str, path: str, query: dict[str, Any], form: dict[str, Any], req: tuple[str, str | None]
    ) -> Any:
        parts = path.strip("/").split("/")
        if parts[:1] != ["v1"] or len(parts) < 2:
            raise self._unrecognized(method, path)
        if parts[1:] == ["balance"] and method == "GET":
            return self.state.templates.clone("balance")
        if parts[1] == "webhook_endpoints" and len(parts) <= 3:
            return self.webhooks.route(method, parts[2] if len(parts) == 3 else None, {**query, **form})
        resource = _COLLECTIONS.get(parts[1])
        if resource is None or len(parts) > 3:
            raise self._unrecognized(method, path)
        params = {**query, **form}
        expand = params.get("expand") or []
        expand = [expand] if isinstance(expand, str) else list(expand)
        if len(parts) == 2:
            if method == "GET":
                return self._list(resource, parts[1], query, expand)
            if method == "POST" and resource != "event":
                self._check_unknown(resource, form)
                return self.state.expand(self.state.create(resource, form, req), expand)
            raise self._unrecognized(method, path)
        ident = parts[2]
        if method == "GET":
            return self.state.expand(self.state.get(resource, ident), expand)
        if method == "POST" and resource != "event":
            self._check_unknown(resource, form)
            if resource == "subscription":
                return self.state.expand(self.state.modify_subscription(ident, dict(form), req), expand)
            return self.state.expand(self.state.update(resource, ident, form, req), expand)
        if method == "DELETE" and resource == "subscription":
            return self.state.expand(self.state.cancel_subscription(ident, req), expand)
        if method == "DELETE" and resource in _DELETABLE:
            self.state.delete(resource, ident, req)
            return {"id": ident, "object": resource, "deleted": True}
        raise self._unrecognized(method, path)

    def _unrecognized(self, method: str, path: str) -> StripeError:
        if self.checker is not None and self.checker.operation(method, path) is not None:
            self.mismatches.append(f"{method} {path}: in Stripe's spec but not implemented by the simulator")
        return StripeError(
            404,
            f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs or we can help at "
            "https://support.stripe.com/.",
        )

    def _check_unknown(self, resource: str, form: dict[str, Any]) -> None:
        if self.checker is not None:
            return  # the spec check has already rejected unknown parameters
        for name in form:
            if name not in _BUILTIN_WRITE_PARAMS[resource]:
                raise StripeError(400, f"Received unknown parameter: {name}", code="parameter_unknown", param=name)

    def _list(self, resource: str, collection: str, query: dict[str, Any], expand: list[str]) -> dict[str, Any]:
        limit = query.get("limit", 10)
        if not isinstance(limit, int):
            raise StripeError(400, f"Invalid integer: {limit}", param="limit")
        if not 1 <= limit <= 100:
            which = "greater than or equal to 1" if limit < 1 else "less than or equal to 100"
            raise StripeError(400, f"This value must be {which}.", param="limit")
        created = query.get("created")
        if isinstance(created, int):
            created = {"gte": created, "lte": created}
        elif created is not None and not isinstance(created, dict):
            raise StripeError(400, f"Invalid integer: {created}", param="created")
        elif isinstance(created, dict):
            for op, value in created.items():
                if op not in ("gt", "gte", "lt", "lte") or not isinstance(value, int):
                    raise StripeError(400, f"Invalid integer: {value}", param=f"created[{op}]")
        keep = self._filter(resource, query)
        data, more = self.state.page(
            resource, limit, query.get("starting_after"), query.get("ending_before"), created, keep
        )
        body = {"object": "list", "data": data, "has_more": more, "url": f"/v1/{collection}"}
        return self.state.expand(body, expand) if expand else body

    @staticmethod
    def _filter(resource: str, query: dict[str, Any]) -> Callable[[dict[str, Any]], bool] | None:
        if resource == "event":
            types: list[str] = []
            if isinstance(query.get("type"), str):
                types.append(query["type"])
            raw = query.get("types")
            types.extend([raw] if isinstance(raw, str) else list(raw or []))
            if not types:
                return None
            exact = {t for t in types if "*" not in t}
            prefixes = tuple(t.split("*")[0] for t in types if "*" in t)
            return lambda e: e["type"] in exact or (bool(prefixes) and e["type"].startswith(prefixes))
        wanted = {k: query[k] for k in _FILTERS.get(resource, ()) if k in query}
        if resource == "subscription":
            status = wanted.pop("status", None)
            plain = wanted
            if status == "all":
                return (lambda o: all(o.get(k) == v for k, v in plain.items())) if plain else None
            if status is None:
                return lambda o: o.get("status") not in _SUB_HIDDEN and all(o.get(k) == v for k, v in plain.items())
            wanted = {**plain, "status": status}
        if not wanted:
            return None
        return lambda o: all(o.get(k) == v for k, v in wanted.items())
