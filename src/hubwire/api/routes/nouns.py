"""Generic REST routes for every Noun, by its plural: list, create, get, update, delete, custom verbs.

    GET    /v1/{plural}                 ?field=value... &filter={json} &sort=-field &limit= &cursor=
    POST   /v1/{plural}                 201, the created entity
    GET    /v1/{plural}/{id}
    PATCH  /v1/{plural}/{id}            optional "version" (body or query) or If-Match: <version>
    DELETE /v1/{plural}/{id}
    POST   /v1/{plural}/{id}/{verb}     optional JSON object of field changes

Pydantic models generated from each Noun's fields document the bodies in OpenAPI; the Noun itself
validates (its ValidationError names every bad field). A route another router already declares
(e.g. ``POST /v1/integrations/{id}/connect``) is not generated again: the specific one wins.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, create_model
from pydantic import Field as PydanticField

from hubwire.api.routes.body import json_object, parse_json
from hubwire.errors import FieldError, NotFoundError, ValidationError
from hubwire.nouns.entity import Entity
from hubwire.nouns.noun import Noun
from hubwire.nouns.schema import BUILTIN_VERBS, Field, camel_to_snake
from hubwire.nouns.values import EPOCH_MAX, EPOCH_MIN, INT_MAX, INT_MIN

__all__ = [
    "READ_ONLY",
    "NounModels",
    "entity_response",
    "noun_models",
    "noun_router",
    "read_only_fields",
    "refuse_read_only",
    "version_of",
]

RESERVED_QUERY = frozenset({"filter", "sort", "limit", "cursor"})
# Fields a Noun's own verbs manage (e.g. an Integration reaches Connected only through connect,
# which checks the credentials): refused in generic create and update bodies.
READ_ONLY: dict[str, frozenset[str]] = {
    "Integration": frozenset(
        {"status", "error", "last_sync_at", "last_sync_count", "next_sync_at", "next_reconcile_at"}
    ),
}
# The documented shape of each field type, with the ranges Field.check enforces (hubwire.nouns.values),
# so that what the document calls valid is accepted.
_SCALARS: dict[str, Any] = {
    "string": str,
    "text": str,
    # ISO 8601 text or epoch seconds, within years 1..9999 in UTC
    "datetime": datetime | Annotated[float, PydanticField(ge=EPOCH_MIN, le=EPOCH_MAX)],
    "number": Annotated[float, PydanticField(ge=INT_MIN, le=INT_MAX)],
    "integer": Annotated[int, PydanticField(ge=INT_MIN, le=INT_MAX)],
    "boolean": bool,
    "json": Any,
}


class NounModels:
    """The OpenAPI face of one Noun: its entity, create body, update body and list page."""

    def __init__(self, noun: Noun) -> None:
        self.noun = noun
        self.entity = _model(noun.name, noun, mode="entity")
        self.create = _model(f"{noun.name}Create", noun, mode="create")
        self.update = _model(f"{noun.name}Update", noun, mode="update")
        self.page = create_model(
            f"{noun.name}List",
            data=(list[self.entity], ...),  # type: ignore[name-defined]
            has_more=(bool, ...),
            next_cursor=(str | None, None),
        )


def _python_type(f: Field) -> Any:
    if f.type == "enum":
        base: Any = Literal[f.enum]
    elif f.type == "relation":
        assert f.target is not None
        base = Annotated[str, PydanticField(pattern=f"^{f.target.lower()}_.", description=f"a {f.target} id")]
    else:
        base = _SCALARS[f.type]
    return list[base] if f.many else base


def _model(name: str, noun: Noun, *, mode: str) -> type[BaseModel]:
    # Python attribute names are prefixed so that no field shadows a BaseModel attribute; the
    # schema shows the aliases (the Noun's field names).
    fields: dict[str, Any] = {}
    if mode == "entity":
        fields["m_id"] = (str, PydanticField(alias="$id", description=f"e.g. {noun.name.lower()}_hV6nRxWm"))
        fields["m_type"] = (str, PydanticField(alias="$type"))
    fixed = read_only_fields(noun) if mode != "entity" else frozenset()
    for fname, f in noun.fields.items():
        if fname in fixed:
            continue
        t = _python_type(f)
        needed = mode == "create" and f.required and noun.defaults.get(fname) is None
        if needed:
            fields[f"f_{fname}"] = (t, PydanticField(alias=fname))
        elif mode == "update" and f.required:
            fields[f"f_{fname}"] = (t, PydanticField(None, alias=fname))  # optional, but never null
        else:
            fields[f"f_{fname}"] = (t | None, PydanticField(None, alias=fname))
    if mode == "entity":
        fields["m_created_at"] = (str, PydanticField(alias="created_at"))
        fields["m_updated_at"] = (str, PydanticField(alias="updated_at"))
        fields["m_version"] = (int, PydanticField(alias="version"))
    if mode == "update":
        fields["m_version"] = (
            int | None,
            PydanticField(None, alias="version", description="expected current version (optimistic concurrency)"),
        )
    extra = "allow" if mode == "entity" else "forbid"
    config = ConfigDict(extra=extra, populate_by_name=True)  # type: ignore[typeddict-item]
    doc = noun.description or f"A {noun.name}."
    return create_model(name, __config__=config, __doc__=doc, **fields)


def noun_models(noun: Noun) -> NounModels:
    return NounModels(noun)


def entity_response(entity: Entity | dict[str, Any], status_code: int = 200) -> JSONResponse:
    headers = {"ETag": f'"{entity["version"]}"'} if isinstance(entity.get("version"), int) else None
    return JSONResponse(dict(entity), status_code=status_code, headers=headers)


def _int_version(raw: Any, source: str) -> int:
    if isinstance(raw, bool):
        raise ValidationError.single(source, "type", f"{source} must be an integer version")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str):
        text = raw.strip()
        if text.startswith("W/"):
            text = text[2:]
        text = text.strip('"')
        if text.isdigit():
            return int(text)
    raise ValidationError.single(source, "type", f"{source} must be an integer version")


def version_of(request: Request, body: dict[str, Any] | None = None) -> int | None:
    """The expected version from the body, the ``version`` query parameter or ``If-Match``."""
    found: dict[str, int] = {}
    if body is not None and body.get("version") is not None:
        found["version"] = _int_version(body.pop("version"), "version")
    elif body is not None:
        body.pop("version", None)
    if request.query_params.get("version") is not None:
        found["query.version"] = _int_version(request.query_params["version"], "version")
    if_match = request.headers.get("if-match")
    if if_match and if_match.strip() != "*":
        found["If-Match"] = _int_version(if_match, "If-Match")
    if len(set(found.values())) > 1:
        raise ValidationError.single("version", "mismatch", f"conflicting expected versions: {found}")
    return next(iter(found.values()), None)


def read_only_fields(noun: Noun) -> frozenset[str]:
    """Fields only verbs may set over REST: the Noun's ``readonly_fields`` and those in ``READ_ONLY``."""
    return frozenset(getattr(noun, "readonly_fields", ())) | READ_ONLY.get(noun.name, frozenset())


def refuse_read_only(noun: Noun, body: Mapping[str, Any]) -> None:
    """Refuse a write that sets fields only verbs may set (REST bodies and MCP args alike)."""
    fixed = read_only_fields(noun)
    errors = [
        FieldError(k, "read_only", f"{k} is set by {noun.name}'s verbs, not directly")
        for k in body
        if camel_to_snake(k) in fixed
    ]
    if errors:
        raise ValidationError("; ".join(e.message for e in errors), errors, noun=noun.name)


def _field_params(noun: Noun) -> list[tuple[str, Field]]:
    return [(n, f) for n, f in noun.fields.items() if n not in RESERVED_QUERY and f.type != "json"]


def _list_filter(noun: Noun, request: Request, raw_filter: str | None) -> dict[str, Any]:
    allowed = {n: f for n, f in _field_params(noun)}
    clauses: list[dict[str, Any]] = []
    errors: list[FieldError] = []
    for key in dict.fromkeys(request.query_params.keys()):
        if key in RESERVED_QUERY:
            continue
        f = allowed.get(key) or allowed.get(camel_to_snake(key))  # ?authType= is ?auth_type=
        if f is None:
            errors.append(FieldError(key, "unknown_parameter", f"{noun.plural} cannot be listed by {key!r}"))
            continue
        values = request.query_params.getlist(key)
        if f.many:
            clauses.extend({f.name: {"$contains": v}} for v in values)
        elif len(values) > 1:
            clauses.append({f.name: {"$in": values}})
        else:
            clauses.append({f.name: values[0]})
    if errors:
        raise ValidationError("invalid query: " + "; ".join(e.message for e in errors), errors, noun=noun.name)
    if raw_filter:
        parsed = parse_json(raw_filter, "filter")
        if not isinstance(parsed, dict):
            raise ValidationError.single("filter", "type", "filter must be a JSON object")
        clauses.append(parsed)
    if not clauses:
        return {}
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


# A field's query parameter takes one value of the field's type (as text in the URL).
_QUERY_SCHEMAS: dict[str, dict[str, Any]] = {
    "number": {"type": "number", "minimum": INT_MIN, "maximum": INT_MAX},
    "integer": {"type": "integer", "minimum": INT_MIN, "maximum": INT_MAX},
    "boolean": {"type": "boolean"},
    "datetime": {
        "anyOf": [
            {"type": "string", "format": "date-time"},
            {"type": "number", "minimum": EPOCH_MIN, "maximum": EPOCH_MAX},
        ]
    },
}


def _query_docs(noun: Noun) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = [
        {
            "name": "filter",
            "in": "query",
            "required": False,
            # A JSON document, not a string: the parameter's content says so (clients serialise it).
            "content": {"application/json": {"schema": {"type": "object"}}},
            "description": 'a JSON filter, e.g. {"amount": {"$gte": 100}} (see the filter language in the README)',
        }
    ]
    for name, f in _field_params(noun):
        schema: dict[str, Any] = _QUERY_SCHEMAS.get(f.type, {"type": "string"})
        if f.type == "enum":
            schema = {"type": "string", "enum": list(f.enum) + sorted(noun.filter_aliases.get(name, {}))}
        elif f.type == "relation":
            assert f.target is not None
            schema = {"type": "string", "pattern": f"^{f.target.lower()}_."}
        how = "contains" if f.many else "equals"
        docs.append(
            {
                "name": name,
                "in": "query",
                "required": False,
                "schema": schema,
                "description": f"{noun.name}.{name} {how} this value (repeat for any of several)",
            }
        )
    return docs


def noun_router(noun: Noun, taken: Iterable[tuple[str, str]] = (), *, base: str | None = None) -> APIRouter:
    """The routes of one Noun, skipping (method, path) pairs another router already declared."""
    models = noun_models(noun)
    base = base or f"/v1/{noun.plural}"
    item = f"{base}/{{id}}"
    skip = set(taken)
    tag = noun.name
    router = APIRouter(tags=[tag])
    entity_doc: dict[int | str, dict[str, Any]] = {200: {"model": models.entity}}

    def body_doc(model: type[BaseModel], required: bool = True) -> dict[str, Any]:
        schema = model.model_json_schema(by_alias=True, ref_template="#/components/schemas/{model}")
        return {"requestBody": {"required": required, "content": {"application/json": {"schema": schema}}}}

    def add(method: str, path: str, endpoint: Any, **kw: Any) -> None:
        if (method, path) not in skip:
            router.add_api_route(path, endpoint, methods=[method], response_model=None, **kw)

    async def list_entities(
        request: Request,
        sort: str | None = Query(None, description="a field, `-field` for descending; default created_at"),
        limit: int = Query(50, ge=1, le=1000),
        cursor: str | None = Query(None, description="next_cursor of the previous page"),
    ) -> JSONResponse:
        flt = _list_filter(noun, request, request.query_params.get("filter"))
        page = await noun.find(flt, sort=sort, limit=limit, cursor=cursor, coerce=True)
        return JSONResponse(page.to_dict())

    async def create_entity(request: Request) -> JSONResponse:
        body = await json_object(request)
        refuse_read_only(noun, body)
        return entity_response(await noun.create(body), 201)

    async def get_entity(id: str) -> JSONResponse:
        return entity_response(await noun.get(id))

    async def update_entity(id: str, request: Request) -> JSONResponse:
        body = await json_object(request)
        version = version_of(request, body)
        refuse_read_only(noun, body)
        return entity_response(await noun.update(id, body, version=version))

    async def delete_entity(id: str, request: Request) -> JSONResponse:
        return entity_response(await noun.delete(id, version=version_of(request)))

    add(
        "GET",
        base,
        list_entities,
        summary=f"List {noun.plural}",
        name=f"list_{noun.plural}",
        responses={200: {"model": models.page}},
        openapi_extra={"parameters": _query_docs(noun)},
    )
    add(
        "POST",
        base,
        create_entity,
        summary=f"Create a {noun.name}",
        name=f"create_{noun.name}",
        status_code=201,
        responses={201: {"model": models.entity}},
        openapi_extra=body_doc(models.create),
    )
    add("GET", item, get_entity, summary=f"Get a {noun.name}", name=f"get_{noun.name}", responses=entity_doc)
    add(
        "PATCH",
        item,
        update_entity,
        summary=f"Update a {noun.name}",
        name=f"update_{noun.name}",
        responses=entity_doc,
        openapi_extra=body_doc(models.update),
    )
    add(
        "DELETE", item, delete_entity, summary=f"Delete a {noun.name}", name=f"delete_{noun.name}", responses=entity_doc
    )

    internal = set(getattr(noun, "internal_verbs", ()))
    for verb, decl in noun.verbs.items():
        if verb in BUILTIN_VERBS or verb in internal:
            continue
        add(
            "POST",
            f"{item}/{verb}",
            _verb_endpoint(noun, verb),
            summary=f"{verb} a {noun.name} (emits {noun.name}.{decl.event})",
            name=f"{verb}_{noun.name}",
            responses=entity_doc,
            openapi_extra=body_doc(models.update, required=False),
        )

    async def unknown_verb(id: str, verb: str) -> JSONResponse:
        known = sorted(v for v in noun.verbs if v not in BUILTIN_VERBS and v not in internal)
        raise NotFoundError(
            f"{noun.name} has no verb {verb!r} (verbs: {', '.join(known) or 'none'})",
            code="unknown_verb",
            noun=noun.name,
            verb=verb,
        )

    router.add_api_route(f"{item}/{{verb}}", unknown_verb, methods=["POST"], include_in_schema=False)
    return router


def _verb_endpoint(noun: Noun, verb: str) -> Any:
    own = noun.own_verb(verb)

    async def perform(id: str, request: Request) -> JSONResponse:
        body = await json_object(request, required=False)
        version = version_of(request, body)
        refuse_read_only(noun, body)
        if own is None:
            return entity_response(await noun.perform(verb, id, body, version=version))
        kwargs = {camel_to_snake(k): v for k, v in body.items()}
        if version is not None:
            kwargs["version"] = version
        try:
            inspect.signature(own).bind(id, **kwargs)
        except TypeError:
            raise ValidationError.single(
                "body", "unknown_field", f"{noun.name}.{verb} does not take {sorted(kwargs)}"
            ) from None
        return entity_response(await own(id, **kwargs))

    perform.__name__ = f"{verb}_{noun.name.lower()}"
    return perform
