"""Checking Slack Web API calls against Slack's official description, used as a parameter table.

Slack's description (``slack/slack_web_openapi_v2.json``) is Swagger 2.0 and not a valid one, so
openapi-core cannot read it. As the specs README recommends, it is used as a table: for each method
the parameter names, which are required and their declared types. A call is reported when the method
is unknown, a parameter is not declared, a required one is missing, or a boolean/integer value is
not one. ``token`` is satisfied by ``Authorization: Bearer`` as Slack allows. Incoming-webhook
payloads have no description of their own: their keys are checked against ``chat.postMessage``'s
(a webhook message takes the same fields). Loaded once per process via
:mod:`hubwire.simulators.specs`; without the specs folder nothing is checked.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hubwire.simulators.specs import RequestCheck, cached_spec, load_json

__all__ = ["SLACK_SPEC_PATH", "SlackSpec", "slack_spec"]

SLACK_SPEC_PATH = Path("slack") / "slack_web_openapi_v2.json"
# Fields a JSON body may carry as JSON values where the form encoding carries a JSON string.
_STRUCTURED = frozenset({"blocks", "attachments", "metadata"})
_TRUE_FALSE = frozenset({"true", "false", "1", "0"})


@dataclass(frozen=True)
class _Param:
    name: str
    required: bool
    type: str


class SlackSpec:
    """Slack's methods as a table of parameters."""

    def __init__(self, doc: Mapping[str, Any]) -> None:
        self.methods: dict[str, dict[str, _Param]] = {}
        for path, item in doc["paths"].items():
            params: dict[str, _Param] = {}
            for op in item.values():
                for p in op.get("parameters", []):
                    params[p["name"]] = _Param(p["name"], bool(p.get("required")), str(p.get("type", "string")))
            self.methods[path.lstrip("/")] = params

    def check_call(self, method: str, args: Mapping[str, Any], *, bearer: bool, json_body: bool) -> RequestCheck:
        """Problems of one Web API call (``args``: query and body merged); empty when it conforms."""
        table = self.methods.get(method)
        if table is None:
            return RequestCheck(None, (f"method {method!r} is not in Slack's description",))
        problems: list[str] = []
        unknown = tuple(sorted(k for k in args if k not in table))
        problems += [f"parameter {k!r} is not declared for {method}" for k in unknown]
        for p in table.values():
            if p.name == "token":
                if not bearer and "token" not in args and p.required:
                    problems.append(f"{method} requires a token (Authorization: Bearer or token=)")
                continue
            if p.name not in args:
                if p.required:
                    problems.append(f"required parameter {p.name!r} of {method} is missing")
                continue
            problem = _type_problem(p, args[p.name], json_body)
            if problem:
                problems.append(f"{method} {p.name}: {problem}")
        return RequestCheck(method, tuple(problems), unknown)

    def check_webhook(self, payload: Mapping[str, Any]) -> RequestCheck:
        """Problems of one incoming-webhook payload, by ``chat.postMessage``'s table."""
        table = self.methods["chat.postMessage"]
        unknown = tuple(sorted(k for k in payload if k not in table or k == "token"))
        problems = [f"field {k!r} is not a chat.postMessage field (incoming webhook)" for k in unknown]
        for key in payload.keys() - set(unknown):
            problem = _type_problem(table[key], payload[key], True)
            if problem:
                problems.append(f"webhook {key}: {problem}")
        return RequestCheck("incoming-webhook", tuple(problems), unknown)


def _type_problem(p: _Param, value: Any, json_body: bool) -> str | None:
    if p.type == "boolean":
        ok = isinstance(value, bool) or (isinstance(value, str) and value.lower() in _TRUE_FALSE)
        return None if ok else f"expected a boolean, got {value!r}"
    if p.type == "integer":
        if isinstance(value, int) and not isinstance(value, bool):
            return None
        return None if isinstance(value, str) and value.lstrip("-").isdigit() else f"expected an integer, got {value!r}"
    if p.name in _STRUCTURED:
        if json_body and isinstance(value, (list, dict)):
            return None
        if isinstance(value, str):
            try:
                json.loads(value)
            except ValueError:
                return "expected JSON (an array of objects)"
            return None
        return f"expected JSON, got {type(value).__name__}"
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return None
    return f"expected a string, got {type(value).__name__}"


def slack_spec(specs_dir: Path | None = None) -> SlackSpec | None:
    """Slack's description under ``specs_dir`` (default: the shared folder), loaded once; None if absent."""
    return cached_spec(specs_dir, SLACK_SPEC_PATH, lambda path: SlackSpec(load_json(path)), requires=None)
