"""Checking GitHub requests (and, in tests, responses) against GitHub's official OpenAPI description.

Owns the GitHub half of spec checking: openapi-core ``validate_request`` on every request the
simulator receives (types, enums, required body fields, unknown paths), plus a check openapi-core
does not make: query parameters the operation does not declare (a misspelt ``per_page`` would
otherwise pass silently, as GitHub itself ignores unknown parameters). Responses are checked with
``validate_response`` after the nullable fix-up. The description is loaded once per process via
:mod:`hubwire.simulators.specs`; without the specs folder (or openapi-core) nothing is checked.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hubwire.simulators.specs import RequestCheck, load_document, locate_specs_dir

__all__ = ["GITHUB_SPEC_PATH", "GitHubSpec", "github_spec"]

GITHUB_SPEC_PATH = Path("github") / "api.github.com.json"
# openapi-core matches requests against the description's server URL.
_SERVER = "https://api.github.com"


@dataclass
class _Request:
    """The openapi-core request protocol over plain values (no web framework needed)."""

    method: str
    path: str
    query: Sequence[tuple[str, str]]
    headers: Mapping[str, str]
    body: bytes | None
    content_type: str
    host_url: str = _SERVER
    parameters: Any = field(init=False)

    def __post_init__(self) -> None:
        from openapi_core.datatypes import RequestParameters
        from werkzeug.datastructures import Headers, ImmutableMultiDict

        self.method = self.method.lower()
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(list(self.query)),
            header=Headers(dict(self.headers)),
            cookie=ImmutableMultiDict(),
        )


@dataclass
class _Response:
    data: bytes
    status_code: int
    content_type: str
    headers: Mapping[str, str]


class GitHubSpec:
    """GitHub's description, ready to check requests and responses."""

    def __init__(self, path: Path) -> None:
        from openapi_core import Config, OpenAPI

        self.document = load_document(path)
        self.doc: dict[str, Any] = self.document.doc
        # Validating the 13 MB document itself costs ~15 s and it is valid: skip it.
        self.api = OpenAPI.from_dict(self.doc, config=Config(spec_validator_cls=None))
        self._routes = [(_template_regex(p), p) for p in self.doc["paths"]]
        # Literal segments first, so /repos/{o}/{r}/issues/comments wins over .../issues/{issue_number}.
        self._routes.sort(key=lambda r: r[1].count("{"))

    def operation(self, method: str, path: str) -> tuple[str, dict[str, Any]] | None:
        """The path template and operation object that ``method path`` matches, if any."""
        for rx, template in self._routes:
            if rx.fullmatch(path):
                op = self.doc["paths"][template].get(method.lower())
                if op is not None:
                    return template, op
        return None

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
        found = self.operation(method, path)
        name = f"{method.upper()} {found[0]}" if found else None
        problems: list[str] = []
        req = _Request(method, path, query, headers or {}, body or None, content_type)
        try:
            self.api.validate_request(req)
        except Exception as exc:
            problems.append(_describe(exc))
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
        req = _Request(method, path, query, {}, request_body, "application/json")
        resp = _Response(body, status, headers.get("Content-Type", "application/json"), headers)
        try:
            self.api.validate_response(req, resp)
        except Exception as exc:
            return [_describe(exc)]
        return []


def _template_regex(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", template)
    return re.compile("".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts))


def _describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {str(exc)[:200]}"
    cause = exc.__cause__ or exc.__context__
    details = getattr(exc, "schema_errors", None) or getattr(cause, "schema_errors", None)
    if details:
        # Messages start with the whole offending value; the reason is at the end.
        parts = []
        for e in list(details)[:3]:
            where = "/".join(str(p) for p in getattr(e, "absolute_path", ()))
            parts.append(f"{where or '(root)'}: ...{str(getattr(e, 'message', e))[-200:]}")
        text += " (" + "; ".join(parts) + ")"
    elif cause is not None and str(cause) not in text:
        text += f" ({type(cause).__name__}: {str(cause)[:300]})"
    return text[:1000]


_lock = threading.Lock()
_loaded: dict[str, GitHubSpec] = {}


def github_spec(specs_dir: Path | None = None) -> GitHubSpec | None:
    """The GitHub description under ``specs_dir`` (default: the shared folder), loaded once; None if absent."""
    root = specs_dir if specs_dir is not None else locate_specs_dir()
    if root is None:
        return None
    path = root / GITHUB_SPEC_PATH
    if not path.is_file():
        return None
    try:
        import openapi_core  # noqa: F401
    except ImportError:  # a user's install without the dev extra: serve without checking
        return None
    key = str(path.resolve())
    with _lock:
        spec = _loaded.get(key)
        if spec is None:
            spec = _loaded[key] = GitHubSpec(path)
    return spec
