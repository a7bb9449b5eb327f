"""Checking Twilio Messages API requests (and, in tests, responses) against Twilio's OpenAPI description.

openapi-core ``validate_request`` checks path parameters (an ``AC...`` account SID), query
parameters and the form body (``To`` required, types, SID patterns). The form schema does not
forbid unknown fields and Twilio ignores them, so a misspelt ``StatusCalback`` would pass silently:
the checker also reports form fields and query parameters the operation does not declare.
Authentication is the simulator's business (Twilio answers 20003), so security requirements are not
checked here. Responses are checked with ``validate_response`` after the nullable fix-up. Loaded once
per process via :mod:`hubwire.simulators.specs`; without the specs folder (or openapi-core) nothing
is checked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import parse_qsl

from hubwire.simulators.specs import (
    OpenAPIChecker,
    OpenAPIRequest,
    OpenAPIResponse,
    RequestCheck,
    cached_spec,
    describe_validation_error,
)

__all__ = ["TWILIO_SPEC_PATH", "TwilioSpec", "twilio_spec"]

TWILIO_SPEC_PATH = Path("twilio") / "twilio_api_v2010.json"
# openapi-core matches requests against the description's server URL.
_SERVER = "https://api.twilio.com"


class TwilioSpec(OpenAPIChecker):
    """Twilio's 2010-04-01 API description, ready to check requests and responses."""

    server = _SERVER

    def check_request(
        self,
        method: str,
        path: str,
        query: Sequence[tuple[str, str]],
        headers: Mapping[str, str],
        body: bytes,
    ) -> RequestCheck:
        """Problems of one request with the description; empty when it conforms."""
        found = self.document.operation(method, path)
        name = f"{method.upper()} {found[0]}" if found else None
        content_type = headers.get("Content-Type", "application/x-www-form-urlencoded").split(";")[0].strip()
        problems: list[str] = []
        problem = self.request_problem(method, path, query, headers, body or None, content_type)
        if problem is not None:  # (a security problem is answered 401, code 20003, by the simulator)
            problems.append(problem)
        unknown: list[str] = []
        if found is not None:
            op = found[1]
            params = [self.document.resolve(p) for p in op.get("parameters", [])]
            declared_query = {p["name"] for p in params if p.get("in") == "query"}
            unknown += [f"query parameter {k!r}" for k, _ in query if k not in declared_query]
            form = op.get("requestBody", {}).get("content", {}).get("application/x-www-form-urlencoded")
            if form is not None and body:
                declared = self.document.resolve(form["schema"]).get("properties", {})
                unknown += [f"form field {k!r}" for k, _ in parse_qsl(body.decode()) if k not in declared]
        problems += [f"{u} is not declared for {name}" for u in dict.fromkeys(unknown)]
        return RequestCheck(name, tuple(problems), tuple(unknown))

    def check_response(
        self, method: str, path: str, query: Sequence[tuple[str, str]], status: int, body: bytes
    ) -> list[str]:
        """Problems of one response with the operation's declared response (nullable fix-up applied)."""
        req = OpenAPIRequest(_SERVER, method, path, query, {}, None, "application/x-www-form-urlencoded")
        try:
            self.api.validate_response(req, OpenAPIResponse(body, status, "application/json", {}))
        except Exception as exc:
            return [describe_validation_error(exc)]
        return []


def twilio_spec(specs_dir: Path | None = None) -> TwilioSpec | None:
    """Twilio's description under ``specs_dir`` (default: the shared folder), loaded once; None if absent."""
    return cached_spec(specs_dir, TWILIO_SPEC_PATH, TwilioSpec)
