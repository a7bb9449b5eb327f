"""Schema.org input for the CRM Nouns: the seed's ``{"$type": "Person", ...}`` where a Contact is
expected, ``{"$type": "Organization", ...}`` for an Organization. The one table:

    Person (-> Contact)                    Organization (-> Organization)
    name        -> firstName + lastName    name              -> name
    givenName   -> firstName               url               -> website (and domain, its host)
    familyName  -> lastName                industry          -> industry
    email       -> email, emails           telephone         -> phone
    telephone   -> phones                  numberOfEmployees -> employees
    jobTitle    -> title                   description       -> description
    worksFor    -> organization (an id)    email             -> (none: an Organization has no email)

``name`` splits at its last space ("Ada King Lovelace" -> "Ada King" + "Lovelace"); a single word
is the last name (the CRMs require one). A key outside the table (and outside the Noun's own
fields) is an ``unknown_field`` error, as any unknown field is.

What ``$type`` keeps: the entity is the Noun's (``$type: "Contact"``), in storage, events, REST and
exports, because ``$type`` is what routes, filters and event names key on; the Schema.org view of
an entity is :func:`as_schema_org` (the table read backwards), ``{"$type": "Person", ...}``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from hubwire.nouns.entity import Entity

__all__ = ["ORGANIZATION", "PERSON", "as_schema_org", "from_organization", "from_person"]

# Schema.org property -> Noun field (what translate writes; split and derived fields below).
PERSON: dict[str, str] = {
    "givenName": "first_name",
    "familyName": "last_name",
    "email": "email",
    "telephone": "phones",
    "jobTitle": "title",
    "worksFor": "organization",
}
ORGANIZATION: dict[str, str] = {
    "name": "name",
    "url": "website",
    "industry": "industry",
    "telephone": "phone",
    "numberOfEmployees": "employees",
    "description": "description",
}


def _split_name(name: Any) -> dict[str, Any]:
    if not isinstance(name, str):
        return {"last_name": name}  # not a string: the Noun's validation says so
    first, _, last = name.strip().rpartition(" ")
    return {"first_name": first.strip() or None, "last_name": last or None}


def _translate(
    data: Mapping[str, Any], table: Mapping[str, str], special: Callable[[str, Any], dict[str, Any] | None]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key == "$type":
            continue
        made = special(key, value)
        if made is not None:
            out.update(made)
        elif key in table:
            out[table[key]] = value
        else:
            out[key] = value  # a Noun field given as is (or unknown: validation names it)
    return out


def _person(key: str, value: Any) -> dict[str, Any] | None:
    if key == "name":
        return _split_name(value)
    if key == "email":
        return {"email": value, "emails": [value] if isinstance(value, str) else value}
    if key == "telephone":
        return {"phones": [value] if isinstance(value, str) else value}
    return None


def _organization(key: str, value: Any) -> dict[str, Any] | None:
    if key == "url" and isinstance(value, str):
        host = urlsplit(value if "//" in value else f"//{value}").hostname or ""
        return {"website": value, **({"domain": host.removeprefix("www.")} if host else {})}
    return None


def from_person(data: Mapping[str, Any]) -> dict[str, Any]:
    """A Schema.org Person as Contact fields (the table above)."""
    return _translate(data, PERSON, _person)


def from_organization(data: Mapping[str, Any]) -> dict[str, Any]:
    """A Schema.org Organization as Organization fields (the table above)."""
    return _translate(data, ORGANIZATION, _organization)


def as_schema_org(entity: Entity) -> dict[str, Any]:
    """A Contact as a Schema.org Person, an Organization as one: the table read backwards (``$id`` kept)."""
    out: dict[str, Any] = {"$id": entity.id}
    if entity["$type"] == "Contact":
        out["$type"] = "Person"
        name = " ".join(p for p in (entity.get("first_name"), entity.get("last_name")) if p)
        if name:
            out["name"] = name
        for prop, fname in PERSON.items():
            value = entity.get(fname)
            if fname == "phones":
                value = value[0] if value else None
            if value is not None:
                out[prop] = value
        return out
    if entity["$type"] == "Organization":
        out["$type"] = "Organization"
        for prop, fname in ORGANIZATION.items():
            if entity.get(fname) is not None:
                out[prop] = entity[fname]
        return out
    raise ValueError(f"{entity['$type']} has no Schema.org type here")
