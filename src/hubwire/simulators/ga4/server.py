"""A local Google Analytics 4 Measurement Protocol endpoint (aiohttp, loopback, ephemeral port).

Speaks the Measurement Protocol as Google documents it:

- ``POST /mp/collect?measurement_id=G-...&api_secret=...`` (web streams; app streams use
  ``firebase_app_id``) with a JSON body ``{"client_id", "user_id"?, "timestamp_micros"?,
  "user_properties"?, "events": [{"name", "params"}]}``. Google answers ``204`` whatever the body:
  a request it cannot use is dropped silently. So does this simulator; what it dropped and why is
  kept in ``dropped`` for tests, and what it accepted in ``events``.
- ``POST /debug/mp/collect`` (same parameters) validates without collecting and answers ``200``
  ``{"validationMessages": [{"fieldPath", "description", "validationCode"}]}``, empty when valid.

Checked: the stream and its API secret; ``client_id`` (or ``app_instance_id``); 1 to 25 events;
event names (40 characters, a letter first, then letters, digits and underscores, not a reserved
name); at most 25 parameters per event, parameter names (40 characters, no reserved prefix) and
string values (100 characters); at most 25 user properties (names 24, values 36 characters); a
body of at most 130 kB. Google publishes no machine-readable description of the protocol, so these
rules are from its reference pages. In-memory only; never contacts Google.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from hubwire.simulators.loopback import Fault, LoopbackSimulator, RecordedRequest, json_response

__all__ = ["DEFAULT_API_SECRET", "DEFAULT_MEASUREMENT_ID", "GA4Event", "GA4Simulator"]

DEFAULT_MEASUREMENT_ID = "G-HUBWIRE01"
DEFAULT_API_SECRET = "hubwireTestApiSecret0"
MAX_BODY = 130 * 1024
MAX_EVENTS = 25
MAX_PARAMS = 25
MAX_USER_PROPERTIES = 25
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
RESERVED_EVENTS = frozenset(
    [
        "ad_activeview",
        "ad_click",
        "ad_exposure",
        "ad_query",
        "ad_reward",
        "adunit_exposure",
        "app_background",
        "app_clear_data",
        "app_exception",
        "app_remove",
        "app_store_refund",
        "app_store_subscription_cancel",
        "app_store_subscription_convert",
        "app_store_subscription_renew",
        "app_update",
        "app_upgrade",
        "dynamic_link_app_open",
        "dynamic_link_app_update",
        "dynamic_link_first_open",
        "error",
        "firebase_campaign",
        "firebase_in_app_message_action",
        "firebase_in_app_message_dismiss",
        "firebase_in_app_message_impression",
        "first_open",
        "first_visit",
        "in_app_purchase",
        "notification_dismiss",
        "notification_foreground",
        "notification_open",
        "notification_receive",
        "os_update",
        "session_start",
        "session_start_with_rollout",
        "user_engagement",
    ]
)
RESERVED_PREFIXES = ("google_", "ga_", "firebase_")
RESERVED_USER_PROPERTIES = frozenset(
    ("first_open_time", "first_visit_time", "last_deep_link_referrer", "user_id", "first_open_after_install")
)


@dataclass
class GA4Event:
    """One accepted event, with the request fields it came with."""

    measurement_id: str
    client_id: str
    name: str
    params: dict[str, Any] = field(default_factory=dict)
    user_id: str | None = None
    timestamp_micros: int | None = None
    user_properties: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Message:
    """A validation message as ``/debug/mp/collect`` gives it."""

    field_path: str
    description: str
    code: str

    def as_json(self) -> dict[str, str]:
        return {"fieldPath": self.field_path, "description": self.description, "validationCode": self.code}


class GA4Simulator(LoopbackSimulator):
    """``async with GA4Simulator() as sim:`` -> POST ``{sim.url}/mp/collect?measurement_id=...&api_secret=...``."""

    name = "GA4"
    max_body = MAX_BODY

    def __init__(
        self,
        streams: Mapping[str, str] | None = None,
        *,
        keep_requests: int | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host=host, port=port, keep_requests=keep_requests)
        # measurement id (or firebase app id) -> its API secrets
        self.streams = dict(streams or {DEFAULT_MEASUREMENT_ID: DEFAULT_API_SECRET})
        self.events: list[GA4Event] = []
        self.dropped: list[tuple[RecordedRequest, list[Message]]] = []

    def _kept(self) -> tuple[list[Any] | dict[Any, Any], ...]:
        return (self.events, self.dropped)

    def _add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/mp/collect", self._respond_to)
        router.add_post("/debug/mp/collect", self._respond_to)

    def _fault_response(self, fault: Fault, request: RecordedRequest) -> web.StreamResponse:
        status = fault.status or 500
        headers = {"Retry-After": str(int(fault.retry_after or 1))} if status == 429 else {}
        return json_response(status, {"error": {"code": status, "status": "UNAVAILABLE"}}, headers)

    async def _respond(self, request: RecordedRequest) -> web.StreamResponse:
        events, problems = self._validate(request)
        if request.path.startswith("/debug/"):
            return json_response(200, {"validationMessages": [m.as_json() for m in problems]})
        if problems:
            self.dropped.append((request, problems))
        else:
            self.events.extend(events)
        return web.Response(status=204)

    def _validate(self, request: RecordedRequest) -> tuple[list[GA4Event], list[Message]]:
        if not request.body and int(request.headers.get("Content-Length") or 0) > MAX_BODY:
            return [], [Message("", f"The request body exceeds {MAX_BODY} bytes.", "VALUE_OUT_OF_BOUNDS")]
        stream = request.param("measurement_id") or request.param("firebase_app_id")
        secret = request.param("api_secret")
        if not stream or stream not in self.streams:
            return [], [Message("measurement_id", "Unknown measurement_id or firebase_app_id.", "VALUE_INVALID")]
        if secret != self.streams[stream]:
            return [], [Message("api_secret", "The api_secret does not match the stream.", "VALUE_INVALID")]
        try:
            body = json.loads(request.body)
        except ValueError:
            return [], [Message("", "Unable to parse the request body as JSON.", "VALUE_INVALID")]
        if not isinstance(body, dict):
            return [], [Message("", "The request body must be a JSON object.", "VALUE_INVALID")]
        problems: list[Message] = []
        client_id = body.get("client_id") or body.get("app_instance_id")
        if not isinstance(client_id, str) or not client_id:
            problems.append(Message("client_id", "client_id (or app_instance_id) is required.", "VALUE_REQUIRED"))
        raw_events = body.get("events")
        if not isinstance(raw_events, list) or not raw_events:
            problems.append(Message("events", "events must be a non-empty list.", "VALUE_REQUIRED"))
            raw_events = []
        elif len(raw_events) > MAX_EVENTS:
            problems.append(
                Message("events", f"A request may carry at most {MAX_EVENTS} events.", "EXCEEDED_MAX_ENTITIES")
            )
        user_properties = body.get("user_properties") or {}
        problems += _user_property_problems(user_properties)
        stamp = body.get("timestamp_micros")
        micros = (
            int(stamp)
            if isinstance(stamp, int | str) and not isinstance(stamp, bool) and str(stamp).isdigit()
            else None
        )
        if stamp is not None and micros is None:
            problems.append(Message("timestamp_micros", "timestamp_micros must be an integer.", "VALUE_INVALID"))
        events: list[GA4Event] = []
        for i, raw in enumerate(raw_events):
            found = _event_problems(i, raw)
            problems += found
            if not found:
                events.append(
                    GA4Event(
                        stream,
                        str(client_id),
                        raw["name"],
                        dict(raw.get("params") or {}),
                        body.get("user_id"),
                        micros,
                        {k: v.get("value") if isinstance(v, dict) else v for k, v in user_properties.items()},
                    )
                )
        return events, problems


def _event_problems(i: int, raw: Any) -> list[Message]:
    where = f"events[{i}]"
    if not isinstance(raw, dict):
        return [Message(where, f"Event at index [{i}] is not an object.", "VALUE_INVALID")]
    name = raw.get("name")
    problems = _name_problems(f"{where}.name", f"Event at index: [{i}]", name, 40)
    if isinstance(name, str) and name in RESERVED_EVENTS:
        problems.append(Message(f"{where}.name", f"Event name [{name}] is reserved.", "NAME_RESERVED"))
    params = raw.get("params") or {}
    if not isinstance(params, dict):
        return [*problems, Message(f"{where}.params", "params must be an object.", "VALUE_INVALID")]
    if len(params) > MAX_PARAMS:
        problems.append(
            Message(f"{where}.params", f"An event may carry at most {MAX_PARAMS} params.", "EXCEEDED_MAX_ENTITIES")
        )
    for key, value in params.items():
        problems += _name_problems(f"{where}.params", f"Param [{key}] of event [{name}]", key, 40)
        if isinstance(value, str) and len(value) > 100:
            problems.append(
                Message(f"{where}.params.{key}", f"Param [{key}] is longer than 100 characters.", "VALUE_OUT_OF_BOUNDS")
            )
        elif value is not None and not isinstance(value, str | int | float | list | dict):
            problems.append(Message(f"{where}.params.{key}", f"Param [{key}] has an invalid value.", "VALUE_INVALID"))
    return problems


def _user_property_problems(props: Any) -> list[Message]:
    if not isinstance(props, dict):
        return [Message("user_properties", "user_properties must be an object.", "VALUE_INVALID")]
    problems = []
    if len(props) > MAX_USER_PROPERTIES:
        problems.append(
            Message("user_properties", f"At most {MAX_USER_PROPERTIES} user properties.", "EXCEEDED_MAX_ENTITIES")
        )
    for key, value in props.items():
        problems += _name_problems("user_properties", f"User property [{key}]", key, 24)
        if key in RESERVED_USER_PROPERTIES:
            problems.append(Message("user_properties", f"User property [{key}] is reserved.", "NAME_RESERVED"))
        inner = value.get("value") if isinstance(value, dict) else value
        if isinstance(inner, str) and len(inner) > 36:
            problems.append(
                Message(f"user_properties.{key}", f"User property [{key}] is longer than 36.", "VALUE_OUT_OF_BOUNDS")
            )
    return problems


def _name_problems(path: str, what: str, name: Any, limit: int) -> list[Message]:
    if not isinstance(name, str) or not name:
        return [Message(path, f"{what} has no name.", "VALUE_REQUIRED")]
    if len(name) > limit:
        return [Message(path, f"{what} has a name longer than {limit} characters.", "VALUE_OUT_OF_BOUNDS")]
    if name.startswith(RESERVED_PREFIXES):
        return [Message(path, f"{what} has a reserved prefix [{name}].", "NAME_RESERVED")]
    if not _NAME.match(name):
        return [
            Message(
                path,
                f"{what} has invalid name [{name}]. Names must start with an alphabetic character "
                "and contain only alphanumeric characters and underscores.",
                "NAME_INVALID",
            )
        ]
    return []
