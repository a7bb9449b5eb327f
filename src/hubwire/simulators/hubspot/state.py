"""The simulated HubSpot portal's data: CRM objects, their properties metadata, associations, search.

Owns contacts, companies, deals and leads as HubSpot stores them (numeric string ids, every property
value a string, ``createdate`` / ``lastmodifieddate`` / ``hs_lastmodifieddate`` kept by the
portal, archiving instead of deleting), the properties metadata including custom properties,
the association pairs with HubSpot's type ids, and the search API's filters and sorts. Raises
:class:`HubSpotError`; knows nothing about HTTP.
"""

from __future__ import annotations

import bisect
import itertools
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = ["OBJECT_TYPES", "HubSpotError", "HubSpotState", "iso", "parse_time"]

# Path names and HubSpot's object type ids ("0-1" contacts, "0-2" companies, "0-3" deals, "0-136" leads).
OBJECT_TYPES = {"contacts": "0-1", "companies": "0-2", "deals": "0-3", "leads": "0-136"}
_BY_TYPE_ID = {v: k for k, v in OBJECT_TYPES.items()}
_SINGULAR = {"contacts": "contact", "companies": "company", "deals": "deal", "leads": "lead"}
# HUBSPOT_DEFINED association type ids per direction (unlabeled; HubSpot's "primary" ids are not modelled).
ASSOCIATION_TYPES: dict[tuple[str, str], int] = {
    ("contacts", "companies"): 279,
    ("companies", "contacts"): 280,
    ("deals", "contacts"): 3,
    ("contacts", "deals"): 4,
    ("deals", "companies"): 341,
    ("companies", "deals"): 342,
    # A lead's primary contact and its company (HubSpot's Leads API: 578 and 610).
    ("leads", "contacts"): 578,
    ("contacts", "leads"): 579,
    ("leads", "companies"): 610,
    ("companies", "leads"): 611,
}
_MODIFIED = {
    "contacts": "lastmodifieddate",
    "companies": "hs_lastmodifieddate",
    "deals": "hs_lastmodifieddate",
    "leads": "hs_lastmodifieddate",
}
# A new lead lands in the one lead pipeline's first stage; HubSpot's lead stages are these ids.
LEAD_PIPELINE = "lead-pipeline-id"
LEAD_STAGES = (
    "new-stage-id",
    "attempting-stage-id",
    "connected-stage-id",
    "qualified-stage-id",
    "unqualified-stage-id",
)
# A lead's calculated properties: read-only copies of its primary contact's and company's.
_LEAD_FROM = {
    "hs_associated_contact_firstname": ("contacts", "firstname"),
    "hs_associated_contact_lastname": ("contacts", "lastname"),
    "hs_associated_contact_email": ("contacts", "email"),
    "hs_associated_company_name": ("companies", "name"),
}
_DEFAULT_PROPERTIES = {
    "contacts": ("createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"),
    "companies": ("createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"),
    "deals": (
        "amount",
        "closedate",
        "createdate",
        "dealname",
        "dealstage",
        "hs_lastmodifieddate",
        "hs_object_id",
        "pipeline",
    ),
    "leads": ("createdate", "hs_lastmodifieddate", "hs_lead_name", "hs_object_id", "hs_pipeline", "hs_pipeline_stage"),
}
# name: (type, fieldType) of HubSpot-defined properties.
_BUILTIN: dict[str, dict[str, tuple[str, str]]] = {
    "contacts": {
        "email": ("string", "text"),
        "firstname": ("string", "text"),
        "lastname": ("string", "text"),
        "phone": ("string", "phonenumber"),
        "mobilephone": ("string", "phonenumber"),
        "jobtitle": ("string", "text"),
        "company": ("string", "text"),
        "website": ("string", "text"),
        "lifecyclestage": ("enumeration", "radio"),
        "hubspot_owner_id": ("enumeration", "select"),
        "lastmodifieddate": ("datetime", "date"),
    },
    "companies": {
        "name": ("string", "text"),
        "domain": ("string", "text"),
        "industry": ("enumeration", "select"),
        "numberofemployees": ("number", "number"),
        "phone": ("string", "phonenumber"),
        "city": ("string", "text"),
        "country": ("string", "text"),
        "website": ("string", "text"),
        "annualrevenue": ("number", "number"),
        "description": ("string", "textarea"),
        "hubspot_owner_id": ("enumeration", "select"),
        "hs_lastmodifieddate": ("datetime", "date"),
    },
    "deals": {
        "dealname": ("string", "text"),
        "amount": ("number", "number"),
        "deal_currency_code": ("enumeration", "select"),
        "dealstage": ("enumeration", "radio"),
        "pipeline": ("enumeration", "select"),
        "closedate": ("datetime", "date"),
        "hubspot_owner_id": ("enumeration", "select"),
        "hs_lastmodifieddate": ("datetime", "date"),
    },
    "leads": {
        "hs_lead_name": ("string", "text"),
        "hs_lead_type": ("enumeration", "select"),
        "hs_lead_label": ("enumeration", "select"),
        "hs_pipeline": ("enumeration", "select"),
        "hs_pipeline_stage": ("enumeration", "select"),
        "hubspot_owner_id": ("enumeration", "select"),
        "hs_lastmodifieddate": ("datetime", "date"),
        **{name: ("string", "text") for name in _LEAD_FROM},
    },
}
_COMMON = {"createdate": ("datetime", "date"), "hs_object_id": ("number", "number")}
_READ_ONLY = frozenset({"createdate", "lastmodifieddate", "hs_lastmodifieddate", "hs_object_id", *_LEAD_FROM})
SEARCH_CAP = 10_000


class HubSpotError(Exception):
    """An error answer: HTTP ``status``, HubSpot's ``category`` and message, optional ``errors`` detail."""

    def __init__(self, status: int, message: str, category: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.message, self.category, self.extra = status, message, category, extra


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(epoch * 1000) % 1000:03d}Z"


def parse_time(value: str) -> float:
    """Epoch seconds from HubSpot's two spellings: milliseconds since the epoch, or ISO 8601."""
    if value.lstrip("-").isdigit():
        return int(value) / 1000
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


@dataclass
class HubSpotObject:
    id: str
    type: str
    properties: dict[str, str | None]
    created: float
    modified: float
    archived_at: float | None = None

    def view(self, names: Iterable[str] | None, associations: dict[str, list[dict[str, str]]] | None) -> dict[str, Any]:
        wanted = _DEFAULT_PROPERTIES[self.type] if names is None else tuple(names)
        body: dict[str, Any] = {
            "id": self.id,
            "properties": {n: self.properties.get(n) for n in wanted if n in self.properties or names is not None},
            # The portal keeps both times as text too (createdate, the last-modified property): no formatting per read.
            "createdAt": self.properties.get("createdate") or iso(self.created),
            "updatedAt": self.properties.get(_MODIFIED[self.type]) or iso(self.modified),
            "archived": self.archived_at is not None,
        }
        if self.archived_at is not None:
            body["archivedAt"] = iso(self.archived_at)
        if associations:
            body["associations"] = {kind: {"results": found} for kind, found in associations.items() if found}
        return body

    def write_view(self, written: Iterable[str]) -> dict[str, Any]:
        """What a create or update answers: the default properties and those just written."""
        return self.view(dict.fromkeys([*_DEFAULT_PROPERTIES[self.type], *written]), None)


@dataclass
class HubSpotState:
    """All objects of one portal; ``now`` is the portal's clock (epoch seconds)."""

    now: Callable[[], float]
    objects: dict[str, dict[str, HubSpotObject]] = field(default_factory=lambda: {t: {} for t in OBJECT_TYPES})
    properties: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    # (from type, from id, to type) -> {to id: association type id}, kept for both directions.
    associations: dict[tuple[str, str, str], dict[str, int]] = field(default_factory=dict)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(10001))
    # Ids only grow and objects are only ever added, so each kind's dict and id list are in id order:
    # a list page is a bisect, not a sort (a 50,000-contact sync must measure the client, not this).
    _order: dict[str, list[int]] = field(default_factory=lambda: {t: [] for t in OBJECT_TYPES})
    _emails: dict[str, str] = field(default_factory=dict)  # lower-cased email -> id of the live contact
    version: int = 0  # bumped by every change of an object: what a cached search result is valid for

    def __post_init__(self) -> None:
        for kind, builtin in _BUILTIN.items():
            self.properties[kind] = {}
            for name, (ptype, ftype) in {**builtin, **_COMMON}.items():
                self._define(kind, name, ptype, ftype, name.replace("_", " ").title(), hubspot_defined=True)

    # -- types and properties -------------------------------------------------------------------

    @staticmethod
    def object_type(name: str) -> str:
        kind = _BY_TYPE_ID.get(name, name.lower())
        if kind not in OBJECT_TYPES:
            raise HubSpotError(400, f"Unable to infer object type from: {name}", "VALIDATION_ERROR")
        return kind

    def _define(
        self, kind: str, name: str, ptype: str, ftype: str, label: str, *, hubspot_defined: bool, group: str = ""
    ) -> dict[str, Any]:
        stamp = iso(self.now())
        prop = {
            "name": name,
            "label": label,
            "type": ptype,
            "fieldType": ftype,
            "description": "",
            "groupName": group or f"{_SINGULAR[kind]}information",
            "options": [],
            "displayOrder": -1,
            "calculated": False,
            "externalOptions": False,
            "hasUniqueValue": False,
            "hidden": False,
            "hubspotDefined": hubspot_defined,
            "formField": not hubspot_defined,
            "createdAt": stamp,
            "updatedAt": stamp,
            "archived": False,
            "modificationMetadata": {
                "archivable": not hubspot_defined,
                "readOnlyDefinition": hubspot_defined,
                "readOnlyValue": name in _READ_ONLY,
            },
        }
        self.properties[kind][name] = prop
        return prop

    def define_property(self, kind: str, spec: dict[str, Any]) -> dict[str, Any]:
        """A custom property (``POST /crm/v3/properties/{type}``); 409 when the name is taken."""
        name = spec.get("name")
        missing = [k for k in ("name", "label", "type", "fieldType", "groupName") if not spec.get(k)]
        if missing:
            raise HubSpotError(400, f"Missing required fields: {', '.join(missing)}", "VALIDATION_ERROR")
        assert isinstance(name, str)
        if name in self.properties[kind]:
            raise HubSpotError(409, f"A property named '{name}' already exists.", "OBJECT_ALREADY_EXISTS")
        prop = self._define(
            kind, name, spec["type"], spec["fieldType"], spec["label"], hubspot_defined=False, group=spec["groupName"]
        )
        prop["description"] = spec.get("description", "")
        prop["options"] = list(spec.get("options") or [])
        return prop

    def property(self, kind: str, name: str) -> dict[str, Any]:
        prop = self.properties[kind].get(name)
        if prop is None:
            raise HubSpotError(404, f"Unable to find property {name} for object type {kind}", "OBJECT_NOT_FOUND")
        return prop

    # -- objects --------------------------------------------------------------------------------

    def get(self, kind: str, ident: str, *, archived: bool = False, id_property: str | None = None) -> HubSpotObject:
        found: HubSpotObject | None
        if id_property and id_property != "hs_object_id":
            found = next((o for o in self.objects[kind].values() if o.properties.get(id_property) == ident), None)
        else:
            found = self.objects[kind].get(ident)
        if found is None or (found.archived_at is not None) != archived:
            raise HubSpotError(404, "Object not found.  objectId are usually numeric.", "OBJECT_NOT_FOUND")
        return found

    def create(self, kind: str, properties: dict[str, Any], *, at: float | None = None) -> HubSpotObject:
        values = self.checked(kind, properties, creating=True)
        stamp = self.now() if at is None else at
        ident = str(next(self._ids))
        obj = HubSpotObject(ident, kind, {}, stamp, stamp)
        if kind == "leads":
            obj.properties.update(hs_pipeline=LEAD_PIPELINE, hs_pipeline_stage=LEAD_STAGES[0])
        obj.properties.update(values)
        obj.properties["hs_object_id"] = ident
        obj.properties["createdate"] = iso(stamp)
        self._touch(obj, stamp)
        self.objects[kind][ident] = obj
        self._order[kind].append(int(ident))
        self._index_email(obj, None)
        return obj

    def update(self, kind: str, ident: str, properties: dict[str, Any], *, id_property: str | None = None) -> Any:
        obj = self.get(kind, ident, id_property=id_property)
        values = self.checked(kind, properties, owner=obj.id)
        previous = obj.properties.get("email")
        obj.properties.update(values)
        self._index_email(obj, previous)
        self._touch(obj, self.now())
        self._recalculate(obj)
        return obj

    def archive(self, kind: str, ident: str) -> None:
        """Archive (HubSpot's delete); archiving an archived or unknown object is a no-op, as HubSpot's is."""
        obj = self.objects[kind].get(ident)
        if obj is not None and obj.archived_at is None:
            obj.archived_at = self.now()
            self._touch(obj, obj.archived_at)
            self._index_email(obj, obj.properties.get("email"))

    def _index_email(self, obj: HubSpotObject, previous: str | None) -> None:
        if obj.type != "contacts":
            return
        if previous and self._emails.get(previous.lower()) == obj.id:
            del self._emails[previous.lower()]
        email = obj.properties.get("email")
        if email and obj.archived_at is None:
            self._emails[email.lower()] = obj.id

    def _touch(self, obj: HubSpotObject, stamp: float) -> None:
        self.version += 1
        obj.modified = stamp
        obj.properties[_MODIFIED[obj.type]] = iso(stamp)

    def checked(
        self, kind: str, properties: dict[str, Any], *, creating: bool = False, owner: str | None = None
    ) -> dict[str, str | None]:
        """The values as HubSpot stores them (strings); raises what HubSpot answers for bad ones, and for a
        contact email another live contact has (409: HubSpot's contact email is unique). ``owner`` is the id
        of the contact being updated."""
        email = properties.get("email")
        if kind == "contacts" and email and (creating or owner is not None):
            other = self._emails.get(str(email).lower())
            if other is not None and other != owner:
                raise HubSpotError(409, f"Contact already exists. Existing ID: {other}", "CONFLICT")
        errors = []
        for name in properties:
            prop = self.properties[kind].get(name)
            if prop is None:
                errors.append(
                    {
                        "isValid": False,
                        "message": f'Property "{name}" does not exist',
                        "error": "PROPERTY_DOESNT_EXIST",
                        "name": name,
                        "localizedErrorMessage": "",
                    }
                )
            elif prop["modificationMetadata"]["readOnlyValue"]:
                errors.append(
                    {
                        "isValid": False,
                        "message": f"{name} is a read only property; its value cannot be set.",
                        "error": "READ_ONLY_VALUE",
                        "name": name,
                        "localizedErrorMessage": "",
                    }
                )
            elif prop["type"] == "enumeration" and prop["options"] and properties[name] not in (None, ""):
                allowed = {str(o["value"]) for o in prop["options"]}
                if str(properties[name]) not in allowed:
                    errors.append(
                        {
                            "isValid": False,
                            "message": f"{properties[name]} was not one of the allowed options: {sorted(allowed)}",
                            "error": "INVALID_OPTION",
                            "name": name,
                            "localizedErrorMessage": "",
                        }
                    )
        stage = properties.get("hs_pipeline_stage")
        if kind == "leads" and stage is not None and stage not in LEAD_STAGES:
            errors.append(
                {
                    "isValid": False,
                    "message": f"{stage} was not one of the allowed options: {', '.join(LEAD_STAGES)}",
                    "error": "INVALID_OPTION",
                    "name": "hs_pipeline_stage",
                    "localizedErrorMessage": "",
                }
            )
        if errors:
            raise HubSpotError(400, f"Property values were not valid: {json.dumps(errors)}", "VALIDATION_ERROR")
        return {k: (None if v is None else str(v)) for k, v in properties.items()}

    def live(self, kind: str, archived: bool = False) -> list[HubSpotObject]:
        """Objects in id order, the archived ones alone when ``archived``."""
        return [o for o in self.objects[kind].values() if (o.archived_at is not None) == archived]

    def page(self, kind: str, after: int | None, limit: int, archived: bool) -> tuple[list[HubSpotObject], str | None]:
        """Up to ``limit`` objects from id ``after`` on, and the id the next page starts at (None: the end)."""
        ids, objects = self._order[kind], self.objects[kind]
        i = 0 if after is None else bisect.bisect_left(ids, after)
        found: list[HubSpotObject] = []
        while i < len(ids) and len(found) <= limit:
            obj = objects[str(ids[i])]
            if (obj.archived_at is not None) == archived:
                found.append(obj)
            i += 1
        return found[:limit], (found[limit].id if len(found) > limit else None)

    # -- associations ---------------------------------------------------------------------------

    def associate(self, kind: str, ident: str, to_kind: str, to_ident: str) -> int:
        type_id = ASSOCIATION_TYPES.get((kind, to_kind))
        if type_id is None:
            raise HubSpotError(400, f"No association type between {kind} and {to_kind}", "VALIDATION_ERROR")
        self.get(kind, ident)
        self.get(to_kind, to_ident)
        self.associations.setdefault((kind, ident, to_kind), {})[to_ident] = type_id
        self.associations.setdefault((to_kind, to_ident, kind), {})[ident] = ASSOCIATION_TYPES[(to_kind, kind)]
        self._recalculate(self.objects[kind][ident])
        return type_id

    def dissociate(self, kind: str, ident: str, to_kind: str, to_ident: str) -> None:
        self.associations.get((kind, ident, to_kind), {}).pop(to_ident, None)
        self.associations.get((to_kind, to_ident, kind), {}).pop(ident, None)
        if kind in self.objects and ident in self.objects[kind]:
            self._recalculate(self.objects[kind][ident])

    def _recalculate(self, obj: HubSpotObject) -> None:
        """Refresh the calculated properties of the leads ``obj`` is (or is associated with): the
        primary contact's names and email, the company's name (HubSpot recalculates them on change)."""
        if obj.type == "leads":
            leads = [obj]
        elif obj.type in ("contacts", "companies"):
            leads = [self.objects["leads"][i] for i, _ in self.associated(obj.type, obj.id, "leads")]
        else:
            return
        for lead in leads:
            for name, (kind, source) in _LEAD_FROM.items():
                found = self.associated("leads", lead.id, kind)
                lead.properties[name] = self.objects[kind][found[0][0]].properties.get(source) if found else None

    def associated(self, kind: str, ident: str, to_kind: str) -> list[tuple[str, int]]:
        """(id, type id) of the live objects of ``to_kind`` associated with one object, in id order."""
        pairs = self.associations.get((kind, ident, to_kind), {})
        live = self.objects[to_kind]
        found = [(i, t) for i, t in pairs.items() if i in live and live[i].archived_at is None]
        return sorted(found, key=lambda p: int(p[0]))

    def association_view(self, obj: HubSpotObject, kinds: Iterable[str]) -> dict[str, list[dict[str, str]]]:
        """The ``associations`` member of an object read: ``{"companies": [{"id", "type"}]}``."""
        out: dict[str, list[dict[str, str]]] = {}
        for to_kind in kinds:
            label = f"{_SINGULAR[obj.type]}_to_{_SINGULAR[to_kind]}"
            out[to_kind] = [{"id": i, "type": label} for i, _ in self.associated(obj.type, obj.id, to_kind)]
        return out

    # -- search ---------------------------------------------------------------------------------

    def search(self, kind: str, request: dict[str, Any]) -> list[HubSpotObject]:
        """Every live object matching the request's filterGroups (OR of ANDs) and query, in its sort order."""
        groups = request.get("filterGroups") or []
        if len(groups) > 5 or any(len(g.get("filters") or []) > 6 for g in groups):
            raise HubSpotError(400, "Too many filter groups or filters (at most 5 groups of 6).", "VALIDATION_ERROR")
        # Each filter's value is parsed once, not once per object: a search may scan 50,000 of them.
        compiled = [[self._predicate(kind, f) for f in g.get("filters") or []] for g in groups]
        query = str(request.get("query") or "").lower()
        found = [
            o
            for o in self.live(kind)
            if (not compiled or any(all(p(o) for p in group) for group in compiled))
            and (not query or any(query in (v or "").lower() for v in o.properties.values()))
        ]
        for sort in reversed(request.get("sorts") or []):
            name, descending = _sort_key(sort)
            self._known(kind, name)

            def by(o: HubSpotObject, name: str = name) -> tuple[int, Any]:
                value = self._value(o, name)
                return (0, 0) if value is None else (1, value)

            found.sort(key=by, reverse=descending)
        return found

    def _known(self, kind: str, name: Any) -> str:
        if not isinstance(name, str) or name not in self.properties[kind]:
            raise HubSpotError(
                400, f"There was a problem with the request: unknown property {name!r}", "VALIDATION_ERROR"
            )
        return name

    def _predicate(self, kind: str, flt: dict[str, Any]) -> Callable[[HubSpotObject], bool]:
        name, op = self._known(kind, flt.get("propertyName")), flt.get("operator", "EQ")
        if op in ("HAS_PROPERTY", "NOT_HAS_PROPERTY"):
            return lambda o: (o.properties.get(name) not in (None, "")) == (op == "HAS_PROPERTY")
        if op in ("IN", "NOT_IN"):
            values = {str(v).lower() for v in flt.get("values") or []}
            return lambda o: ((o.properties.get(name) or "").lower() in values) == (op == "IN")
        if op in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
            token = str(flt.get("value", "")).lower().strip("*")
            return lambda o: (token in (o.properties.get(name) or "").lower()) == (op == "CONTAINS_TOKEN")
        try:
            want = self._parse(kind, name, str(flt.get("value")))
            high = self._parse(kind, name, str(flt.get("highValue"))) if op == "BETWEEN" else None
        except ValueError as exc:
            raise HubSpotError(400, f"Invalid value for {name}: {exc}", "VALIDATION_ERROR") from exc
        comparisons: dict[str, Callable[[Any], bool]] = {
            "EQ": lambda v: v == want,
            "NEQ": lambda v: v != want,
            "LT": lambda v: v < want,
            "LTE": lambda v: v <= want,
            "GT": lambda v: v > want,
            "GTE": lambda v: v >= want,
            "BETWEEN": lambda v: want <= v <= high,
        }
        if op not in comparisons:
            raise HubSpotError(400, f"Unknown operator {op!r}", "VALIDATION_ERROR")
        compare = comparisons[op]

        def holds(o: HubSpotObject) -> bool:
            value = self._value(o, name)
            return op == "NEQ" if value is None else compare(value)

        return holds

    def _value(self, obj: HubSpotObject, name: str) -> Any:
        """A property's value in its type's order (None when unset); the portal's own times without parsing."""
        if name in ("lastmodifieddate", "hs_lastmodifieddate"):
            return obj.modified
        if name == "createdate":
            return obj.created
        raw = obj.properties.get(name)
        return None if raw is None else self._parse(obj.type, name, raw)

    def _parse(self, kind: str, name: str, value: str) -> Any:
        ptype = self.properties[kind][name]["type"]
        if ptype in ("datetime", "date"):
            return parse_time(value)
        if ptype == "number":
            return float(value)
        return value.lower()


def _sort_key(sort: Any) -> tuple[str, bool]:
    if isinstance(sort, dict):
        return str(sort.get("propertyName")), str(sort.get("direction", "ASCENDING")).upper() == "DESCENDING"
    text = str(sort)
    return text.lstrip("-"), text.startswith("-")
