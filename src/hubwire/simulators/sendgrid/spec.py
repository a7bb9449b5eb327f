"""Checking SendGrid requests against SendGrid's official OpenAPI description (``tsg_mail_v3.json``).

openapi-core ``validate_request`` checks each request's path, headers and JSON body (required
fields, types, e-mail formats). The description does not forbid unknown properties, so a misspelt
field (``subjekt``) would pass silently; the checker also reports body keys that the schema does
not declare, at every level that lists its properties. Authentication is the simulator's business
(SendGrid answers 401), so security requirements are not checked here. Loaded once per process via
:mod:`hubwire.simulators.specs`; without the specs folder (or openapi-core) nothing is checked.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hubwire.simulators.specs import (
    OpenAPIChecker,
    RequestCheck,
    cached_spec,
)

__all__ = ["SENDGRID_SPEC_PATH", "SendGridSpec", "sendgrid_spec"]

SENDGRID_SPEC_PATH = Path("sendgrid") / "tsg_mail_v3.json"
# openapi-core matches requests against the description's server URL.
_SERVER = "https://api.sendgrid.com"


class SendGridSpec(OpenAPIChecker):
    """SendGrid's mail description, ready to check requests."""

    server = _SERVER

    def check_request(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> RequestCheck:
        """Problems of one request with the description; empty when it conforms."""
        op = self.document.doc["paths"].get(path, {}).get(method.lower())
        name = f"{method.upper()} {path}" if op is not None else None
        problems: list[str] = []
        content_type = headers.get("Content-Type", "application/json").split(";")[0].strip()
        problem = self.request_problem(method, path, (), headers, body or None, content_type)
        if problem is not None:
            problems.append(problem)
        if op is not None and not problems and body:
            schema = op.get("requestBody", {})
            schema = self.document.resolve(schema).get("content", {}).get(content_type, {}).get("schema")
            if schema is not None:
                problems += self._undeclared(json.loads(body), schema, "")
        return RequestCheck(name, tuple(problems))

    def _undeclared(self, value: Any, schema: Any, where: str) -> list[str]:
        schema = self.document.resolve(schema)
        if not isinstance(schema, dict):
            return []
        found: list[str] = []
        if isinstance(value, dict) and isinstance(schema.get("properties"), dict):
            props = schema["properties"]
            if schema.get("additionalProperties") in (None, False):
                found += [f"{where or '(root)'}: property {k!r} is not declared" for k in value if k not in props]
            for k, v in value.items():
                if k in props:
                    found += self._undeclared(v, props[k], f"{where}/{k}")
        elif isinstance(value, list) and "items" in schema:
            for i, item in enumerate(value):
                found += self._undeclared(item, schema["items"], f"{where}/{i}")
        return found


def sendgrid_spec(specs_dir: Path | None = None) -> SendGridSpec | None:
    """SendGrid's description under ``specs_dir`` (default: the shared folder), loaded once; None if absent."""
    return cached_spec(specs_dir, SENDGRID_SPEC_PATH, SendGridSpec)
