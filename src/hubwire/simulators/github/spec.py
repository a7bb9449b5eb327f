"""Checking GitHub requests (and, in tests, responses) against GitHub's official OpenAPI description.

Owns the GitHub half of spec checking: openapi-core ``validate_request`` on every request the
simulator receives (types, enums, required body fields, unknown paths), plus a check openapi-core
does not make: query parameters the operation does not declare (a misspelt ``per_page`` would
otherwise pass silently, as GitHub itself ignores unknown parameters). Responses are checked with
``validate_response`` after the nullable fix-up. The description is loaded once per process via
:mod:`hubwire.simulators.specs`; without the specs folder (or openapi-core) nothing is checked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hubwire.simulators.specs import (
    OpenAPIRequest,
    OpenAPIResponse,
    RequestCheck,
    cached_spec,
    describe_validation_error,
    load_document,
    openapi_validator,
)

__all__ = ["GITHUB_SPEC_PATH", "GitHubSpec", "github_spec"]

GITHUB_SPEC_PATH = Path("github") / "api.github.com.json"
# openapi-core matches requests against the description's server URL.
_SERVER = "https://api.github.com"


class GitHubSpec:
    """GitHub's description, ready to check requests and responses."""

    def __init__(self, path: Path) -> None:
        self.document = load_document(path)
        self.doc: dict[str, Any] = self.document.doc
        self.api = openapi_validator(self.document)

    def declared_query(self, template: str, op: Mapping[str, Any]) -> set[str]:
        params = [*self.doc["paths"][template].get("parameters", []), *op.get("parameters", [])]
        names = set()
        for p in params:
            p = self.document.resolve(p)
            if p.get("in") == "query":
                names.add(p["name"])
        return names

    def check_request(
        self,
        method: str,
        path: str,
        query: Sequence[tuple[str, str]] = (),
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        content_type: str = "application/json",
    ) -> RequestCheck:
        """Problems of one request with the description; an empty list means it conforms."""
        found = self.document.operation(method, path)
        name = f"{method.upper()} {found[0]}" if found else None
        problems: list[str] = []
        req = OpenAPIRequest(_SERVER, method, path, query, headers or {}, body or None, content_type)
        try:
            self.api.validate_request(req)
        except Exception as exc:
            problems.append(describe_validation_error(exc))
        unknown: tuple[str, ...] = ()
        if found is not None:
            declared = self.declared_query(*found)
            unknown = tuple(sorted({k for k, _ in query} - declared))
            problems += [f"query parameter {k!r} is not declared for {name}" for k in unknown]
        return RequestCheck(name, tuple(problems), unknown)

    def check_response(
        self,
        method: str,
        path: str,
        query: Sequence[tuple[str, str]],
        status: int,
        body: bytes,
        headers: Mapping[str, str],
        request_body: bytes | None = None,
    ) -> list[str]:
        """Problems of one response with the operation's declared response (nullable fix-up applied)."""
        req = OpenAPIRequest(_SERVER, method, path, query, {}, request_body, "application/json")
        resp = OpenAPIResponse(body, status, headers.get("Content-Type", "application/json"), headers)
        try:
            self.api.validate_response(req, resp)
        except Exception as exc:
            return [describe_validation_error(exc)]
        return []


def github_spec(specs_dir: Path | None = None) -> GitHubSpec | None:
    """The GitHub description under ``specs_dir`` (default: the shared folder), loaded once; None if absent."""
    return cached_spec(specs_dir, GITHUB_SPEC_PATH, GitHubSpec)
