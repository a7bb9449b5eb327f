"""The dashboard's field mappings page of a CRM integration: per Noun the current mappings, the
provider's fields (asked live from its metadata), a form to add, change or remove one mapping, and
the saved versions.

The page reads with the scope of ``GET /v1/integrations/{id}/mappings``; the form saves through
:func:`hubwire.mappings.set_mappings` (what ``PUT /v1/integrations/{id}/mappings/{noun}`` calls) with
that route's scope. A refused save shows every problem next to the form (422) and stores nothing.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from hubwire.dashboard.pages import _failed, _form, _hub, _session, mapped_nouns, render, router
from hubwire.domains.platform import Integration
from hubwire.errors import FieldError, HubwireError, ValidationError
from hubwire.mappings.edit import get_mappings, list_mapping_versions, remote_fields, set_mappings
from hubwire.mappings.model import DIRECTIONS, TRANSFORMS
from hubwire.nouns.schema import camel_to_snake

__all__ = ["READ", "SAVE"]

READ = ("GET", "/v1/integrations/{id}/mappings")
SAVE = ("PUT", "/v1/integrations/{id}/mappings/{noun}")
_STAMPS = ("created_at", "updated_at")


async def _context(request: Request, id: str, noun: str) -> dict[str, Any]:
    hub = _hub(request)
    integration = await Integration.get(id)
    nouns = mapped_nouns(hub, integration["provider"])
    if not nouns:
        raise ValidationError.single(
            "provider", "no_field_mappings", f"{integration['provider']} takes no field mappings", integration_id=id
        )
    noun = noun if noun in nouns else nouns[0]
    target = hub.providers.get(integration["provider"]).mapped_noun(noun)
    assert target is not None
    fields = [f for f in target.fields.values() if f.type != "relation" and not f.many and f.name not in _STAMPS]
    try:
        remote, unavailable = await remote_fields(id, noun, hub=hub), None
    except HubwireError as exc:  # the provider is down or the credentials lapsed: the rest still shows
        remote, unavailable = [], exc
    return {
        "integration": integration,
        "nouns": nouns,
        "noun": noun,
        "current": (await get_mappings(id, hub=hub)).get(noun, []),
        "remote": remote,
        "labels": {f.name: f.label for f in remote},
        "unavailable": unavailable,
        "fields": fields,
        "versions": await list_mapping_versions(id, hub=hub),
        "transforms": TRANSFORMS,
        "directions": DIRECTIONS,
        "errors": [],
        "entered": {},
    }


@router.get("/integrations/{id}/mappings", response_class=HTMLResponse)
async def mappings_page(request: Request, id: str, noun: str = "") -> Response:
    got = await _session(request)
    if isinstance(got, Response):
        return got
    try:
        got.require(*READ)
        context = await _context(request, id, noun)
    except HubwireError as exc:
        return _failed(request, got, exc)
    return render(request, got, "mappings.html", **context)


@router.post("/integrations/{id}/mappings/{noun}")
async def mappings_save(request: Request, id: str, noun: str) -> Response:
    """Add or change the mapping of one Noun field (``field``), or remove it (``remove``): the Noun's
    whole list is saved as a new version, validated as REST validates it."""
    got = await _session(request)
    if isinstance(got, Response):
        return got
    hub = _hub(request)
    form: dict[str, str] = {}
    try:
        form = await _form(request, got)
        got.require(*SAVE)
        current = (await get_mappings(id, hub=hub)).get(noun, [])
        await set_mappings(id, noun, _edited(current, form), by=got.who, hub=hub)
    except ValidationError as exc:
        try:
            context = await _context(request, id, noun)
        except HubwireError:
            context = {}
        if context.get("noun") != noun:  # no form to show the errors beside (a Noun it does not map)
            return _failed(request, got, exc)
        return render(request, got, "mappings.html", code=422, **{**context, "errors": exc.errors, "entered": form})
    except HubwireError as exc:
        return _failed(request, got, exc)
    return RedirectResponse(f"/integrations/{id}/mappings?noun={noun}", status_code=303)


def _edited(current: list[dict[str, Any]], form: dict[str, str]) -> list[dict[str, Any]]:
    """The Noun's mappings after the form: ``remove`` drops one Noun field's, else the entered one
    replaces the mapping of the same Noun field (or is added)."""
    if form.get("remove"):
        gone = camel_to_snake(form["remove"])
        return [m for m in current if m["field"] != gone]
    field = form.get("field", "").strip()
    entered: dict[str, Any] = {"remote": form.get("remote", "").strip(), "field": field}
    kind = form.get("transform", "").strip()
    if kind == "enum":
        entered["transform"] = {"type": "enum", "map": _enum_map(form.get("map", ""))}
    elif kind:
        entered["transform"] = kind
    entered["direction"] = form.get("direction") or "both"
    kept = [m for m in current if m["field"] != camel_to_snake(field)]
    return [*kept, entered]


def _enum_map(text: str) -> dict[str, str]:
    """``remote value = Noun value``, one a line."""
    table: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        remote, sep, value = line.partition("=")
        if not sep or not remote.strip() or not value.strip():
            raise ValidationError(
                "the enum map is one 'remote value = Noun value' a line",
                [FieldError("map", "enum_map", f"line {n} of the enum map is not 'remote value = Noun value'")],
            )
        table[remote.strip()] = value.strip()
    return table
