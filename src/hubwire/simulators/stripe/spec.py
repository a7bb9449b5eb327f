"""Stripe's form encoding and the check of a request against Stripe's OpenAPI description.

Owns Stripe's bracket notation (``a[b][c]=v``, ``items[0][price]=v``, ``expand[]=v``) parsed into
nested dicts and lists, casting of form strings to the integers/numbers/booleans a schema asks
for, and :class:`StripeSpecChecker`, which matches a request to its operation and validates the
query and body with ``OAS30Validator``. openapi-core cannot do this: its deepObject support stops
at one level and Stripe's ``anyOf`` parameters break it. Never answers requests itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from hubwire.simulators.specs import RequestCheck, SpecDocument, load_document

__all__ = ["FORM", "StripeSpecChecker", "cast_to_schema", "listify", "parse_brackets"]

FORM = "application/x-www-form-urlencoded"
_KEY = re.compile(r"\[([^\[\]]*)\]")
_INT = re.compile(r"^-?\d+$")


def _split_key(key: str) -> list[str]:
    head, bracket, rest = key.partition("[")
    if not bracket:
        return [key]
    parts = [head]
    parts.extend(_KEY.findall("[" + rest))
    return parts


def parse_brackets(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Nest form/query pairs by Stripe's rules: ``a[b]`` is a dict, ``a[]`` appends to a list.

    Numbered members (``items[0][price]``) stay dicts keyed ``"0"``, ``"1"``…; :func:`listify` or
    :func:`cast_to_schema` turn them into lists where arrays are meant (metadata keys may be digits).
    """
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = _split_key(key)
        cur: Any = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if isinstance(cur, list):
                # ``a[][b]=1``: start a new member when this key is already set on the newest one.
                if part == "":
                    if last:
                        cur.append(value)
                        break
                    cur.append({})
                    cur = cur[-1]
                    continue
                if not cur or not isinstance(cur[-1], dict) or (last and part in cur[-1]):
                    cur.append({})
                cur = cur[-1]
            if last:
                if part == "":
                    continue
                cur[part] = value
                break
            nxt = parts[i + 1]
            if nxt == "":
                child = cur.get(part)
                if not isinstance(child, list):
                    child = [] if child is None else [child]
                    cur[part] = child
                cur = child
            else:
                child = cur.get(part)
                if not isinstance(child, dict):
                    child = {}
                    cur[part] = child
                cur = child
    return root


def listify(value: Any, keep: frozenset[str] = frozenset({"metadata"})) -> Any:
    """Turn dicts keyed only by digits into lists, recursively, except under keys in ``keep``."""
    if isinstance(value, list):
        return [listify(v, keep) for v in value]
    if isinstance(value, dict):
        out = {k: (v if k in keep else listify(v, keep)) for k, v in value.items()}
        if out and all(_INT.match(k) and not k.startswith("-") for k in out):
            return [out[k] for k in sorted(out, key=int)]
        return out
    return value


def _schema_type(schema: Mapping[str, Any]) -> str | None:
    t = schema.get("type")
    if t is None and "properties" in schema:
        return "object"
    return t if isinstance(t, str) else None


def _fits(value: Any, schema: Mapping[str, Any]) -> bool:
    """A shallow type check, enough to pick the branch of an ``anyOf`` a form value was meant for."""
    if "enum" in schema:
        return value in schema["enum"]
    t = _schema_type(schema)
    return {
        None: True,
        "string": isinstance(value, str),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, int | float) and not isinstance(value, bool),
        "boolean": isinstance(value, bool),
        "array": isinstance(value, list),
        "object": isinstance(value, dict),
    }.get(t, True)


def cast_to_schema(value: Any, schema: Any, doc: SpecDocument) -> Any:
    """Cast form strings inside ``value`` to what ``schema`` says (integers, booleans, arrays...).

    Values that cannot be cast are returned unchanged so that validation reports them.
    """
    schema = doc.resolve(schema)
    if not isinstance(schema, dict):
        return value
    for key in ("anyOf", "oneOf"):
        if key in schema:
            for branch in schema[key]:
                branch = doc.resolve(branch)
                candidate = cast_to_schema(value, branch, doc)
                if isinstance(branch, dict) and _fits(candidate, branch):
                    return candidate
            return value
    if "allOf" in schema:
        for branch in schema["allOf"]:
            value = cast_to_schema(value, branch, doc)
        return value
    t = _schema_type(schema)
    if isinstance(value, str):
        if t == "integer" and _INT.match(value):
            return int(value)
        if t == "number":
            try:
                f = float(value)
            except ValueError:
                return value
            return int(f) if f.is_integer() and "." not in value and "e" not in value.lower() else f
        if t == "boolean" and value in ("true", "false"):
            return value == "true"
        return value
    if t == "array":
        if isinstance(value, dict) and value and all(_INT.match(k) for k in value):
            value = [value[k] for k in sorted(value, key=int)]
        if isinstance(value, list):
            items = schema.get("items", {})
            return [cast_to_schema(v, items, doc) for v in value]
        return value
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        out: dict[str, Any] = {}
        for k, v in value.items():
            if k in props:
                out[k] = cast_to_schema(v, props[k], doc)
            elif isinstance(extra, dict):
                out[k] = cast_to_schema(v, extra, doc)
            else:
                out[k] = v
        return out
    return value


class _Operation:
    def __init__(self, doc: SpecDocument, template: str, method: str) -> None:
        self.name = f"{method.upper()} {template}"
        self.template, self.method = template, method
        self.pointer = SpecDocument.pointer("paths", template, method)
        op = doc.doc["paths"][template][method]
        self.query: dict[str, tuple[str, dict[str, Any]]] = {}
        self.required_query: list[str] = []
        for i, raw in enumerate(op.get("parameters", [])):
            param = doc.resolve(raw)
            if param.get("in") != "query":
                continue
            self.query[param["name"]] = (self.pointer + f"/parameters/{i}/schema", param.get("schema", {}))
            if param.get("required"):
                self.required_query.append(param["name"])
        content = (op.get("requestBody") or {}).get("content") or {}
        form = content.get(FORM)
        self.body_pointer: str | None = None
        self.body_schema: dict[str, Any] = {}
        self.body_params: frozenset[str] = frozenset()
        self.body_closed = False
        if form is not None and method != "get":
            self.body_pointer = self.pointer + "/requestBody/content/" + FORM.replace("/", "~1") + "/schema"
            self.body_schema = doc.resolve(form.get("schema") or {})
            self.body_params = frozenset(self.body_schema.get("properties") or {})
            self.body_closed = self.body_schema.get("additionalProperties") is False


class StripeSpecChecker:
    """Checks requests against Stripe's ``spec3.yaml``: operation exists, params parse and validate."""

    def __init__(self, doc: SpecDocument) -> None:
        self.doc = doc
        routes: list[tuple[int, re.Pattern[str], str]] = []
        for template in doc.doc.get("paths", {}):
            n = template.count("{")
            rx = re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$")
            routes.append((n, rx, template))
        # Literal segments win over templated ones (/v1/customers/search before /v1/customers/{customer}).
        routes.sort(key=lambda r: r[0])
        self._routes = routes
        self._ops: dict[tuple[str, str], _Operation] = {}

    @classmethod
    def from_specs_dir(cls, specs_dir: Path) -> StripeSpecChecker | None:
        """The checker for ``<specs_dir>/stripe/spec3.yaml``; None if absent or the validator libraries are missing."""
        path = specs_dir / "stripe" / "spec3.yaml"
        if not path.is_file():
            return None
        try:
            import openapi_schema_validator  # noqa: F401
            import referencing  # noqa: F401
            import yaml  # noqa: F401
        except ImportError:  # a user install without the dev extra: serve without checking
            return None
        return cls(load_document(path))

    def operation(self, method: str, path: str) -> _Operation | None:
        method = method.lower()
        for _, rx, template in self._routes:
            if rx.match(path) and method in self.doc.doc["paths"][template]:
                key = (template, method)
                op = self._ops.get(key)
                if op is None:
                    op = self._ops[key] = _Operation(self.doc, template, method)
                return op
        return None

    def path_exists(self, path: str) -> bool:
        return any(rx.match(path) for _, rx, _ in self._routes)

    def check(
        self,
        method: str,
        path: str,
        query: Mapping[str, Any],
        body: Mapping[str, Any],
        content_type: str | None,
        has_body: bool,
    ) -> RequestCheck:
        """Check one request; ``query``/``body`` are already nested by :func:`parse_brackets`."""
        op = self.operation(method, path)
        if op is None:
            return RequestCheck(None, (f"{method.upper()} {path}: no such operation in Stripe's OpenAPI description",))
        problems: list[str] = []
        unknown: list[str] = []
        if has_body:
            if op.body_pointer is None:
                problems.append(f"{op.name}: takes no request body")
            elif (content_type or "").split(";")[0].strip().lower() != FORM:
                problems.append(f"{op.name}: body must be {FORM}, got {content_type or 'no content type'}")
        # DELETE (and a POST without a body) may carry its params in the query string, as the SDKs do.
        query_as_body = method.lower() != "get" and not op.query and op.body_pointer is not None
        if query_as_body:
            body = {**body, **query}
            query = {}
        for name, value in query.items():
            if name not in op.query:
                unknown.append(name)
                continue
            pointer, schema = op.query[name]
            cast = cast_to_schema(value, schema, self.doc)
            errors = self.doc.errors(pointer, cast)
            problems.extend(f"{op.name}: query {name}{e.removeprefix('(root)')}" for e in errors)
        problems.extend(f"{op.name}: missing required query parameter {n}" for n in op.required_query if n not in query)
        if body and op.body_pointer is None:
            unknown.extend(body)
        elif op.body_pointer is not None and (body or method.lower() == "post"):
            if op.body_closed:
                unknown.extend(k for k in body if k not in op.body_params)
            known = {k: v for k, v in body.items() if k in op.body_params or not op.body_closed}
            cast = cast_to_schema(known, op.body_schema, self.doc)
            problems.extend(f"{op.name}: body {e}" for e in self.doc.errors(op.body_pointer, cast))
        problems.extend(f"{op.name}: received unknown parameter {n}" for n in unknown)
        return RequestCheck(op.name, tuple(problems), tuple(unknown))

    def response_errors(self, method: str, path: str, status: int, body: Any, limit: int = 3) -> list[str]:
        """Validation errors of a JSON response against the operation's response schema (200 or default)."""
        op = self.operation(method, path)
        if op is None:
            return [f"{method.upper()} {path}: no such operation"]
        responses = self.doc.doc["paths"][op.template][op.method]["responses"]
        code = str(status) if str(status) in responses else "default"
        pointer = op.pointer + f"/responses/{code}/content/application~1json/schema"
        return self.doc.errors(pointer, body, limit=limit)
