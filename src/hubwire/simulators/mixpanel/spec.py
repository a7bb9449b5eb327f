"""Checking Mixpanel ingestion requests against Mixpanel's OpenAPI description (``ingestion.openapi.yaml``).

The description gives a body schema for ``application/json`` only, while Mixpanel also takes
newline-delimited JSON and the form field ``data`` the official clients send: the simulator reads
any of them into the array of events and the check validates that array as ``application/json``.
openapi-core fills a missing ``strict`` or ``project_id`` from their defaults, so the simulator
checks those two itself. The description types ``properties.time`` as an integer, but the official
clients send ``time.time()`` (a fraction of a second) and Mixpanel takes it: a fractional ``time`` is
checked as its whole seconds. Authentication is the simulator's business (Mixpanel answers 401), so
security requirements are not checked here. Loaded once per process via
:mod:`hubwire.simulators.specs`; without the specs folder (or openapi-core) nothing is checked.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hubwire.simulators.specs import (
    OpenAPIChecker,
    RequestCheck,
    cached_spec,
)

__all__ = ["MIXPANEL_SPEC_PATH", "MixpanelSpec", "mixpanel_spec"]

MIXPANEL_SPEC_PATH = Path("mixpanel") / "ingestion.openapi.yaml"
# openapi-core matches requests against the description's server URL (region ``api``).
_SERVER = "https://api.mixpanel.com"


class MixpanelSpec(OpenAPIChecker):
    """Mixpanel's ingestion description, ready to check requests."""

    server = _SERVER

    def check_request(
        self, method: str, path: str, query: Sequence[tuple[str, str]], headers: Mapping[str, str], events: Any
    ) -> RequestCheck:
        """Problems of one request, its body already read into ``events``; empty when it conforms."""
        op = self.document.doc["paths"].get(path, {}).get(method.lower())
        name = f"{method.upper()} {path}" if op is not None else None
        # The body is checked as the JSON array it was read into, whatever it came as.
        headers = {k: v for k, v in headers.items() if k.lower() not in ("content-type", "content-length")}
        headers["Content-Type"] = "application/json"
        body = json.dumps(_whole_seconds(events)).encode()
        problem = self.request_problem(method, path, query, headers, body, "application/json")
        return RequestCheck(name, () if problem is None else (problem,))


def _whole_seconds(events: Any) -> Any:
    """``events`` with each fractional ``properties.time`` cut to whole seconds (see the module's note)."""
    if not isinstance(events, list):
        return events
    return [
        {**e, "properties": {**e["properties"], "time": int(e["properties"]["time"])}}
        if isinstance(e, dict) and isinstance(e.get("properties"), dict) and type(e["properties"].get("time")) is float
        else e
        for e in events
    ]


def mixpanel_spec(specs_dir: Path | None = None) -> MixpanelSpec | None:
    """Mixpanel's description under ``specs_dir`` (default: the shared folder), loaded once; None if absent."""
    return cached_spec(specs_dir, MIXPANEL_SPEC_PATH, MixpanelSpec)
