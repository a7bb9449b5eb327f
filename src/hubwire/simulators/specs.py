"""Providers' official API descriptions: where they are, loading them once, and checking against them.

Owns the generic half of spec checking shared by every simulator: locating the specs folder
(``HUBWIRE_SPECS_DIR``, else ``shared/specs`` beside the source checkout), loading JSON/YAML once
per process, the OpenAPI 3.0 ``nullable`` fix-up, validators addressed by JSON pointer into a
loaded document, and the result type of a request check. Provider-specific request parsing lives
in the provider's own package (``stripe/spec.py``, ``github/spec.py``). Never downloads anything:
a missing folder means "no checking", never an error.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from hubwire.settings import Settings

if TYPE_CHECKING:  # openapi-core is optional at run time: imported where it is used
    from openapi_core import OpenAPI

__all__ = [
    "OpenAPIChecker",
    "OpenAPIRequest",
    "OpenAPIResponse",
    "RequestCheck",
    "SpecDocument",
    "cached_spec",
    "describe_validation_error",
    "fix_nullable",
    "load_document",
    "load_json",
    "load_yaml",
    "locate_specs_dir",
    "openapi_validator",
]


def _checkout() -> Path | None:
    """The source checkout this package runs from (``<checkout>/src/hubwire``, an editable install
    included), found by walking up from this file; None for a package installed into site-packages."""
    for parent in Path(__file__).resolve().parents:
        if parent.name == "src" and (parent / "hubwire").is_dir() and (parent.parent / "pyproject.toml").is_file():
            return parent.parent
    return None


def locate_specs_dir() -> Path | None:
    """The shared specs folder: ``$HUBWIRE_SPECS_DIR``, else ``shared/specs`` beside the checkout
    (``<checkout>/../shared/specs``); None if absent. An installed package has no checkout: it
    checks only when ``HUBWIRE_SPECS_DIR`` names the folder."""
    configured = Settings().specs_dir
    checkout = _checkout()
    beside = [] if checkout is None else [checkout.parent / "shared" / "specs"]
    candidates = [configured] if configured else beside
    for path in candidates:
        if path.is_dir():
            return path
    return None


_load_lock = threading.Lock()


def _yaml_cache(path: Path) -> Path | None:
    """Where a parsed YAML description is kept as JSON (10x faster to read back); None if no cache dir."""
    base = os.environ.get("XDG_CACHE_HOME") or (Path.home() / ".cache")
    try:
        st = path.stat()
    except OSError:
        return None
    return Path(base) / "hubwire" / "specs" / f"{path.stem}-{st.st_size}-{int(st.st_mtime)}.json"


def _read(path: str) -> Any:
    if not path.endswith((".yaml", ".yml")):
        with open(path, "rb") as f:
            return json.load(f)
    cache = _yaml_cache(Path(path))
    if cache is not None and cache.is_file():
        try:
            with open(cache, "rb") as f:
                return json.load(f)
        except (OSError, ValueError):
            pass
    import yaml

    with open(path, "rb") as f:
        # The C loader is ~10x faster than the pure-Python one; the Stripe description is 4 MB of YAML.
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        data = yaml.load(f, Loader=loader)
    if cache is not None:
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(data))
            os.replace(tmp, cache)
        except (OSError, TypeError, ValueError):
            pass  # a read-only home or a non-JSON value (dates): parse the YAML next time too
    return data


@lru_cache(maxsize=16)
def _load_raw(path: str, mtime: float) -> Any:
    return _read(path)


def _cached(path: Path) -> Any:
    resolved = path.resolve()
    with _load_lock:
        return _load_raw(str(resolved), resolved.stat().st_mtime)


def load_json(path: Path) -> Any:
    """Parsed JSON, cached per process. Callers must not mutate the result."""
    return _cached(path)


def load_yaml(path: Path) -> Any:
    """Parsed YAML (C loader when available), cached per process. Callers must not mutate the result."""
    return _cached(path)


def fix_nullable(node: Any) -> Any:
    """Make OpenAPI 3.0 ``nullable: true`` effective in place and return ``node``.

    The JSON Schema validators ignore ``nullable`` next to ``anyOf``/``oneOf``/``allOf`` and on
    enums that lack ``null``, so real responses (Stripe ``address: null``) fail. Where ``nullable``
    is true: ``{"enum": [null]}`` joins ``anyOf``/``oneOf``, an ``allOf`` is wrapped in an ``anyOf``
    with it, and ``None`` joins an ``enum``.
    """
    stack = [node]
    while stack:
        cur = stack.pop()
        if isinstance(cur, list):
            stack.extend(cur)
            continue
        if not isinstance(cur, dict):
            continue
        stack.extend(cur.values())
        if cur.get("nullable") is not True:
            continue
        for key in ("anyOf", "oneOf"):
            branches = cur.get(key)
            if isinstance(branches, list) and {"enum": [None]} not in branches:
                branches.append({"enum": [None]})
        if isinstance(cur.get("allOf"), list):
            cur["anyOf"] = [{"allOf": cur.pop("allOf")}, {"enum": [None]}]
        enum = cur.get("enum")
        if isinstance(enum, list) and None not in enum:
            enum.append(None)
    return node


@dataclass(frozen=True)
class RequestCheck:
    """The verdict on one request: the operation it matched (``"GET /v1/customers"``) and problems found."""

    operation: str | None
    problems: tuple[str, ...] = ()
    unknown_params: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.problems

    def __iter__(self) -> Iterator[str]:
        return iter(self.problems)


class SpecDocument:
    """A loaded OpenAPI document (nullable fix-up applied) with validators addressed by JSON pointer."""

    URI = "urn:hubwire:spec"

    def __init__(self, doc: dict[str, Any]) -> None:
        from referencing import Registry, Resource
        from referencing.jsonschema import DRAFT4

        self.doc = doc
        self._registry: Any = Registry().with_resource(
            self.URI, Resource.from_contents(doc, default_specification=DRAFT4)
        )
        self._validators: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._routes: list[tuple[re.Pattern[str], str]] | None = None

    @staticmethod
    def pointer(*parts: str) -> str:
        return "/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)

    def resolve(self, node: Any) -> Any:
        """Follow local ``$ref`` chains (``#/components/...``) to the node they point at."""
        while isinstance(node, dict) and isinstance(node.get("$ref"), str) and node["$ref"].startswith("#/"):
            cur: Any = self.doc
            for part in node["$ref"][2:].split("/"):
                cur = cur[part.replace("~1", "/").replace("~0", "~")]
            node = cur
        return node

    def operation(self, method: str, path: str) -> tuple[str, dict[str, Any]] | None:
        """The path template and operation object that ``method path`` matches, if any."""
        with self._lock:
            if self._routes is None:
                # Literal segments first, so /repos/{o}/{r}/issues/comments wins over .../issues/{issue_number}.
                templates = sorted(self.doc["paths"], key=lambda t: t.count("{"))
                self._routes = [(_template_regex(t), t) for t in templates]
            routes = self._routes
        for rx, template in routes:
            if rx.fullmatch(path):
                op = self.doc["paths"][template].get(method.lower())
                if op is not None:
                    return template, op
        return None

    def validator(self, pointer: str) -> Any:
        """An ``OAS30Validator`` for the schema at ``pointer``; its ``$ref``s resolve in this document."""
        with self._lock:
            v = self._validators.get(pointer)
            if v is None:
                from openapi_schema_validator import OAS30Validator

                v = OAS30Validator({"$ref": f"{self.URI}#{pointer}"}, registry=self._registry)
                self._validators[pointer] = v
            return v

    def errors(self, pointer: str, instance: Any, limit: int = 3) -> list[str]:
        """Up to ``limit`` readable validation errors of ``instance`` against the schema at ``pointer``."""
        out: list[str] = []
        for err in self.validator(pointer).iter_errors(instance):
            where = "".join(f"[{p}]" for p in err.absolute_path) or "(root)"
            out.append(f"{where}: {err.message[:300]}")
            if len(out) >= limit:
                break
        return out


def _template_regex(template: str) -> re.Pattern[str]:
    """A path template (``/repos/{owner}/{repo}``) as a pattern matching its concrete paths."""
    parts = re.split(r"(\{[^}]+\})", template)
    return re.compile("".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts))


_documents: dict[str, SpecDocument] = {}


def load_document(path: Path) -> SpecDocument:
    """The OpenAPI document at ``path`` (JSON or YAML), nullable-fixed, loaded once per process."""
    key = str(path.resolve())
    with _load_lock:
        doc = _documents.get(key)
    if doc is None:
        # A private parse (not the shared cache): the fix-up mutates it.
        doc = SpecDocument(fix_nullable(_read(key)))
        with _load_lock:
            doc = _documents.setdefault(key, doc)
    return doc


def openapi_validator(document: SpecDocument) -> OpenAPI:
    """openapi-core's validator of a loaded document, as every simulator checks with.

    The descriptions are the providers' own and valid: validating the document itself (~15 s for
    GitHub's 13 MB) is skipped.
    """
    from openapi_core import Config, OpenAPI

    return OpenAPI.from_dict(document.doc, config=Config(spec_validator_cls=None))


@dataclass
class OpenAPIRequest:
    """The openapi-core request protocol over plain values (no web framework needed).

    ``host_url`` is the description's server URL: openapi-core matches requests against it.
    """

    host_url: str
    method: str
    path: str
    query: Sequence[tuple[str, str]]
    headers: Mapping[str, str]
    body: bytes | None
    content_type: str
    parameters: Any = field(init=False)

    def __post_init__(self) -> None:
        from openapi_core.datatypes import RequestParameters
        from werkzeug.datastructures import Headers, ImmutableMultiDict

        self.method = self.method.lower()
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(list(self.query)), header=Headers(dict(self.headers)), cookie=ImmutableMultiDict()
        )

    @property
    def full_url_pattern(self) -> str:
        return self.host_url + self.path


@dataclass
class OpenAPIResponse:
    """The openapi-core response protocol over plain values."""

    data: bytes
    status_code: int
    content_type: str
    headers: Mapping[str, str]


class OpenAPIChecker:
    """A provider's OpenAPI description, loaded and ready to validate requests against ``server``
    (the description's server URL). Authentication is the simulator's business (it answers the
    provider's 401), so security requirements never count as a problem here."""

    server: str = ""

    def __init__(self, path: Path) -> None:
        self.document: SpecDocument = load_document(path)
        self.api = openapi_validator(self.document)

    def request_problem(
        self,
        method: str,
        path: str,
        query: Sequence[tuple[str, str]],
        headers: Mapping[str, str],
        body: bytes | None,
        content_type: str,
    ) -> str | None:
        """What openapi-core finds wrong with one request, in one line; None when it validates."""
        from openapi_core.validation.request.exceptions import SecurityValidationError

        try:
            self.api.validate_request(OpenAPIRequest(self.server, method, path, query, headers, body, content_type))
        except SecurityValidationError:
            return None
        except Exception as exc:
            return describe_validation_error(exc)
        return None


def describe_validation_error(exc: BaseException) -> str:
    """One readable line for an openapi-core validation error: its type and message, then the schema
    errors behind it (their reason is at the end of each message) or its cause."""
    text = f"{type(exc).__name__}: {str(exc)[:200]}"
    cause = exc.__cause__ or exc.__context__
    details = getattr(exc, "schema_errors", None) or getattr(cause, "schema_errors", None)
    if details:
        parts = []
        for e in list(details)[:3]:
            where = "/".join(str(p) for p in getattr(e, "absolute_path", ()))
            parts.append(f"{where or '(root)'}: ...{str(getattr(e, 'message', e))[-200:]}")
        text += " (" + "; ".join(parts) + ")"
    elif cause is not None and str(cause) not in text:
        text += f" ({type(cause).__name__}: {str(cause)[:300]})"
    return text[:1000]


_Spec = TypeVar("_Spec")
_specs: dict[str, Any] = {}
_build_lock = threading.Lock()  # not _load_lock: building a checker loads its document under that one


def cached_spec(
    specs_dir: Path | None, relative: Path, build: Callable[[Path], _Spec], *, requires: str | None = "openapi_core"
) -> _Spec | None:
    """A provider's checker for the description at ``specs_dir / relative`` (default folder: the shared
    one), built once per process; None when the file is absent or the module the checker ``requires`` is
    not installed (a user's install without the dev extra serves without checking)."""
    root = specs_dir if specs_dir is not None else locate_specs_dir()
    if root is None or not (root / relative).is_file():
        return None
    if requires is not None and importlib.util.find_spec(requires) is None:
        return None
    path = root / relative
    key = f"{build.__qualname__}:{path.resolve()}"
    with _build_lock:
        spec = _specs.get(key)
        if spec is None:
            spec = _specs[key] = build(path)
    return spec
