"""The three MCP verbs over Hubwire: ``search``, ``fetch`` and ``do``, and who may run them.

Each takes the caller's API-key scope and decides with the REST API's table
(:func:`hubwire.api.scopes.required_scope`), by the REST route the call stands for: ``search`` and
``fetch`` read; ``do`` writes, or needs admin where the table says so (an Integration's
create/update/delete/connect/disconnect). ``do`` runs the Noun's own verbs, so before-hooks may
veto and state machines refuse exactly as they do for the SDK.

Never returns a credential: entities are what REST returns (credentials live encrypted outside
them), and what a connect reveals once (a generated signing secret) is withheld, its names listed
under ``withheld``, because a tool result lands in a model's context and transcript.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from hubwire.api.routes.nouns import refuse_read_only
from hubwire.api.scopes import Scope, allows, required_scope
from hubwire.errors import InsufficientScopeError, NotFoundError, ValidationError
from hubwire.hub import Hub
from hubwire.jobs import queue
from hubwire.net.redact import redact
from hubwire.nouns.entity import META, Entity
from hubwire.nouns.noun import Noun
from hubwire.nouns.schema import camel_to_snake
from hubwire.store.events import get_event
from hubwire.sync.runs import get_run
from hubwire.webhooks.attempts import get_delivery, list_attempts

__all__ = ["do", "fetch", "noun_named", "search"]

# Ids that are not entities', by prefix (an entity id's prefix is its Noun, lowercased).
EVENT_PREFIX = "evt_"
RUN_PREFIX = "syncrun_"
DELIVERY_PREFIX = "msg_"
JOB_PREFIX = "job_"


def _require(scope: Scope, method: str, path: str, what: str) -> None:
    needed = required_scope(method, path)
    if not allows(scope, needed):
        raise InsufficientScopeError(
            f"{what} needs a key with the {needed.value} scope; this key has {scope.value}",
            required_scope=needed.value,
            scope=scope.value,
        )


def noun_named(name: Any) -> Noun:
    noun = Noun.registry.get(name) if isinstance(name, str) else None
    if noun is None:
        known = ", ".join(sorted(Noun.registry))
        raise ValidationError.single("type", "unknown_noun", f"no Noun {name!r} (Nouns: {known})")
    return noun


def _entity(noun: Noun, entity: Entity) -> dict[str, Any]:
    """The entity as REST shows it; anything a verb added beside its fields (a secret shown once) is withheld."""
    shown = {k: v for k, v in entity.items() if k in META or k in noun.fields}
    withheld = sorted(k for k in entity if k not in shown)
    if withheld:
        shown["withheld"] = withheld
    return shown


async def search(
    hub: Hub,
    scope: Scope,
    type: str,
    filter: Mapping[str, Any] | None = None,
    limit: int = 20,
    cursor: str | None = None,
    sort: str | None = None,
) -> dict[str, Any]:
    """A page of entities of one Noun matching ``filter``: ``{"data", "has_more", "next_cursor"}``."""
    noun = noun_named(type)
    _require(scope, "GET", f"/v1/{noun.plural}", f"search {noun.name}")
    page = await noun.find(filter or {}, sort=sort, limit=limit, cursor=cursor)
    return {"data": [_entity(noun, e) for e in page], "has_more": page.has_more, "next_cursor": page.next_cursor}


async def fetch(hub: Hub, scope: Scope, id: str, type: str | None = None) -> dict[str, Any]:
    """An entity, event, sync run, webhook delivery (with its attempts) or job by its id."""
    # Every kind is a GET over REST (an entity, /v1/events, runs, deliveries, jobs): read decides.
    _require(scope, "GET", "/v1/{kind}/{id}", f"fetch {id}")
    if type is not None:
        named = noun_named(type)
        return _entity(named, await named.get(id))
    if id.startswith(EVENT_PREFIX):
        async with hub.read() as conn:
            return (await get_event(conn, id)).to_dict()
    if id.startswith(RUN_PREFIX):
        return (await get_run(hub, id)).to_dict()
    if id.startswith(DELIVERY_PREFIX):
        row = await get_delivery(hub, id)
        return {**row.to_dict(), "attempts": [a.to_dict() for a in await list_attempts(hub, id)]}
    number = id.removeprefix(JOB_PREFIX)
    if number != id and number.isdigit():
        job = (await queue.get_job(hub, int(number))).to_dict()
        # Payloads are ids and event data, never credentials; redaction is a second line of defence (as REST).
        return {**job, "payload": redact(job["payload"])}
    prefix = id.rsplit("_", 1)[0] if "_" in id else ""
    noun = next((n for n in Noun.registry.values() if n.name.lower() == prefix), None)
    if noun is None:
        raise NotFoundError(f"no Noun, event, run, delivery or job has ids like {id!r}", code="unknown_id", id=id)
    return _entity(noun, await noun.get(id))


def _route(noun: Noun, verb: str, entity_id: str | None) -> tuple[str, str]:
    """The REST route this verb stands for, whose scope decides it."""
    base = f"/v1/{noun.plural}"
    if verb == "create":
        return "POST", base
    if verb == "update":
        return "PATCH", f"{base}/{{id}}"
    if verb == "delete":
        return "DELETE", f"{base}/{{id}}"
    return "POST", f"{base}/{{id}}/{verb}" if entity_id is not None else f"{base}/{verb}"


async def do(
    hub: Hub,
    scope: Scope,
    type: str,
    verb: str,
    id: str | None = None,
    args: Mapping[str, Any] | None = None,
    version: int | None = None,
) -> dict[str, Any]:
    """Run a verb of a Noun through the Noun itself (hooks, state machines, events, jobs): the entity after it."""
    noun = noun_named(type)
    internal = set(getattr(noun, "internal_verbs", ()))
    if verb not in noun.verbs or verb in internal:
        known = ", ".join(v for v in noun.verbs if v not in internal)
        raise ValidationError.single("verb", "unknown_verb", f"{noun.name} has no verb {verb!r} (verbs: {known})")
    method, path = _route(noun, verb, id)
    _require(scope, method, path, f"{noun.name}.{verb}")
    data = dict(args or {})
    if verb != "delete":
        refuse_read_only(noun, data)
    if verb == "create":
        return _entity(noun, await noun.create(data))
    own = noun.own_verb(verb)
    if own is not None:
        return _entity(noun, await _call_own(noun, verb, own, id, data, version))
    if id is None:
        raise ValidationError.single("id", "required", f"{noun.name}.{verb} needs the id of the {noun.name}")
    if verb == "update":
        return _entity(noun, await noun.update(id, data, version=version))
    if verb == "delete":
        if data:
            raise ValidationError.single("args", "unknown_field", "delete takes no args")
        return _entity(noun, await noun.delete(id, version=version))
    return _entity(noun, await noun.perform(verb, id, data, version=version))


async def _call_own(
    noun: Noun, verb: str, method: Callable[..., Any], id: str | None, data: dict[str, Any], version: int | None
) -> Entity:
    kwargs = {camel_to_snake(k): v for k, v in data.items()}
    signature = inspect.signature(method)
    if version is not None:
        if "version" not in signature.parameters:
            raise ValidationError.single("version", "unsupported", f"{noun.name}.{verb} takes no expected version")
        kwargs["version"] = version
    positional = (id,) if id is not None else ()
    try:
        signature.bind(*positional, **kwargs)
    except TypeError as exc:  # e.g. "missing a required argument: 'integration_id'" or an unknown keyword
        raise ValidationError.single("args", "invalid_arguments", f"{noun.name}.{verb}: {exc}") from None
    entity: Entity = await method(*positional, **kwargs)
    return entity
