"""HubSpot as data: CRM v3 objects (companies, contacts, deals, leads) mapped to the CRM Nouns.

Built from HubSpot's public API reference (its OpenAPI files are proprietary: nothing is copied).
Every property value HubSpot returns is a string (numbers and dates too); the maps below turn
them into the Nouns' types. A record's associations (``associations.companies.results[].id``)
are copied to ``_company`` / ``_contact`` by :func:`with_links` before mapping, so that relations
are plain :class:`~hubwire.connectors.spec.Relation` s. Resources are listed in the order a sync
pulls them: a resource comes after those its relations point to.

HubSpot's deal stages are per pipeline; the two closed stages of the default pipeline are
``closedwon`` and ``closedlost`` (a custom pipeline's closed stages may be named in the
Integration's config: ``won_stages`` / ``lost_stages``, see :func:`deal_status`).

Leads (the Leads API's ``leads`` object) live in HubSpot's one lead pipeline; its stage is the
Lead's status (:func:`lead_status`). A lead's name, email and company are HubSpot's calculated
copies of its primary contact's and company's (``hs_associated_contact_*``): read, never written.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from hubwire.connectors.spec import (
    Auth,
    Endpoint,
    FieldMap,
    Pagination,
    ProviderSpec,
    RateLimit,
    Relation,
    Resource,
    dig,
)

__all__ = [
    "ASSOCIATED",
    "COMPANY",
    "CONTACT",
    "DEAL",
    "HUBSPOT",
    "LEAD",
    "LEAD_STAGE",
    "LOST_STAGES",
    "MODIFIED",
    "OBJECT_TYPE",
    "PROPERTIES",
    "WON_STAGES",
    "deal_status",
    "lead_status",
    "with_links",
]

WON_STAGES = frozenset({"closedwon"})
LOST_STAGES = frozenset({"closedlost"})

# Resource -> HubSpot's object type in paths, the property its search filters on, what it requests.
OBJECT_TYPE = {"company": "companies", "contact": "contacts", "deal": "deals", "lead": "leads"}
# Contacts keep their modification time in ``lastmodifieddate``, companies and deals in ``hs_lastmodifieddate``.
MODIFIED = {
    "company": "hs_lastmodifieddate",
    "contact": "lastmodifieddate",
    "deal": "hs_lastmodifieddate",
    "lead": "hs_lastmodifieddate",
}
PROPERTIES: dict[str, tuple[str, ...]] = {
    "company": (
        "name",
        "domain",
        "website",
        "industry",
        "numberofemployees",
        "phone",
        "city",
        "country",
        "description",
        "hubspot_owner_id",
        "hs_lastmodifieddate",
    ),
    "contact": (
        "email",
        "hs_additional_emails",
        "firstname",
        "lastname",
        "phone",
        "mobilephone",
        "jobtitle",
        "lifecyclestage",
        "hubspot_owner_id",
        "lastmodifieddate",
    ),
    "deal": (
        "dealname",
        "amount",
        "deal_currency_code",
        "dealstage",
        "pipeline",
        "closedate",
        "hs_deal_stage_probability",
        "hubspot_owner_id",
        "hs_lastmodifieddate",
    ),
    "lead": (
        "hs_lead_name",
        "hs_pipeline_stage",
        "hs_associated_contact_firstname",
        "hs_associated_contact_lastname",
        "hs_associated_contact_email",
        "hs_associated_company_name",
        "hubspot_owner_id",
        "hs_lastmodifieddate",
    ),
}
# The associations a resource's relations come from: resource -> (its link field, object type).
ASSOCIATED: dict[str, tuple[tuple[str, str], ...]] = {
    "company": (),
    "contact": (("_company", "companies"),),
    "deal": (("_company", "companies"), ("_contact", "contacts")),
    "lead": (("_company", "companies"), ("_contact", "contacts")),
}
# Lead.status -> the lead pipeline stage it is written as; a stage not here (attempting, connected) is New.
LEAD_STAGE = {"New": "new-stage-id", "Qualified": "qualified-stage-id", "Disqualified": "unqualified-stage-id"}


def deal_status(stage: Any, won: Collection[str] = WON_STAGES, lost: Collection[str] = LOST_STAGES) -> str:
    """A HubSpot deal stage as ``Deal.status``: ``closedwon`` -> Won, ``closedlost`` -> Lost, else Open."""
    if stage in won:
        return "Won"
    if stage in lost:
        return "Lost"
    return "Open"


def lead_status(stage: Any) -> str:
    """A lead pipeline stage as ``Lead.status``: qualified -> Qualified, unqualified -> Disqualified, else New."""
    return next((status for status, s in LEAD_STAGE.items() if s == stage and status != "New"), "New")


def with_links(record: dict[str, Any], resource: str, associated: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """The record with ``_company`` / ``_contact``: the first associated id of each kind, from the
    record's own ``associations`` member (a list read) or from ``associated`` (a v4 batch read)."""
    out = dict(record)
    for link, kind in ASSOCIATED[resource]:
        if associated is not None:
            ids = associated.get(kind) or []
        else:
            ids = [str(a.get("id")) for a in dig(record, f"associations.{kind}.results") or [] if isinstance(a, dict)]
        out[link] = ids[0] if ids else None
    return out


def _props(r: dict[str, Any]) -> dict[str, Any]:
    props = r.get("properties")
    return props if isinstance(props, dict) else {}


def _text(name: str) -> Any:
    def get(r: dict[str, Any]) -> Any:
        value = _props(r).get(name)
        return value if value != "" else None

    return get


def _number(name: str, kind: type = float) -> Any:
    def get(r: dict[str, Any]) -> Any:
        value = _props(r).get(name)
        if value in ("", None):
            return None
        try:
            return kind(float(value))
        except (TypeError, ValueError):
            return None

    return get


def _emails(r: dict[str, Any]) -> list[str] | None:
    props = _props(r)
    first = props.get("email") or None
    more = [e.strip() for e in str(props.get("hs_additional_emails") or "").split(";") if e.strip()]
    found = [e for e in dict.fromkeys([first, *more]) if e]
    return found or None


def _phones(r: dict[str, Any]) -> list[str] | None:
    props = _props(r)
    found = [p for p in (props.get("phone"), props.get("mobilephone")) if p]
    return found or None


COMPANY_MAP = FieldMap(
    "Organization",
    {
        "name": _text("name"),
        "domain": _text("domain"),
        "website": _text("website"),
        "industry": _text("industry"),
        "employees": _number("numberofemployees", int),
        "phone": _text("phone"),
        "city": _text("city"),
        "country": _text("country"),
        "description": _text("description"),
        "owner": _text("hubspot_owner_id"),
    },
)
CONTACT_MAP = FieldMap(
    "Contact",
    {
        "first_name": _text("firstname"),
        "last_name": _text("lastname"),
        "email": _text("email"),
        "emails": _emails,
        "phones": _phones,
        "title": _text("jobtitle"),
        "owner": _text("hubspot_owner_id"),
        "lifecycle_stage": _text("lifecyclestage"),
    },
    {"organization": Relation("_company", "company")},
)
DEAL_MAP = FieldMap(
    "Deal",
    {
        "name": _text("dealname"),
        "amount": _number("amount"),
        "currency": _text("deal_currency_code"),
        "stage": _text("dealstage"),
        "status": "_status",  # deal_status of the stage, set by the provider (it knows the config's stages)
        "close_date": _text("closedate"),
        "probability": _number("hs_deal_stage_probability"),
        "owner": _text("hubspot_owner_id"),
    },
    {"organization": Relation("_company", "company"), "contact": Relation("_contact", "contact")},
)

LEAD_MAP = FieldMap(
    "Lead",
    {
        "name": _text("hs_lead_name"),
        "first_name": _text("hs_associated_contact_firstname"),
        "last_name": _text("hs_associated_contact_lastname"),
        "email": _text("hs_associated_contact_email"),
        "company": _text("hs_associated_company_name"),
        "status": lambda r: lead_status(_props(r).get("hs_pipeline_stage")),
        "owner": _text("hubspot_owner_id"),
    },
    {"organization": Relation("_company", "company"), "contact": Relation("_contact", "contact")},
)


def _resource(name: str, mapping: FieldMap) -> Resource:
    path = f"/crm/v3/objects/{OBJECT_TYPE[name]}"
    associations = ",".join(kind for _, kind in ASSOCIATED[name])
    params: tuple[tuple[str, str], ...] = (("properties", ",".join(PROPERTIES[name])),)
    if associations:
        params += (("associations", associations),)
    return Resource(
        name,
        list=Endpoint("GET", path, params),
        get=Endpoint("GET", f"{path}/{{id}}"),
        create=Endpoint("POST", path),
        update=Endpoint("PATCH", f"{path}/{{id}}"),
        delete=Endpoint("DELETE", f"{path}/{{id}}"),
        mapping=mapping,
        record_path="results",
        updated_field="updatedAt",
    )


COMPANY = _resource("company", COMPANY_MAP)
CONTACT = _resource("contact", CONTACT_MAP)
DEAL = _resource("deal", DEAL_MAP)
LEAD = _resource("lead", LEAD_MAP)

HUBSPOT = ProviderSpec(
    base_url="https://api.hubapi.com",
    auth=Auth("bearer", credential="access_token"),
    # Any scoped read proves the token; one contact is the smallest that every CRM app may make.
    check=Endpoint("GET", "/crm/v3/objects/contacts", (("limit", "1"), ("properties", "email"))),
    pagination=Pagination("next_token", page_size=100, cursor_param="after", token_path="paging.next.after"),
    # HubSpot's burst limit for a private app or an OAuth install is 100 or 190 requests per 10 s
    # depending on the portal's tier; 10 per second is within every tier (an Integration may raise it).
    rate_limit=RateLimit(10),
    resources=(COMPANY, CONTACT, DEAL, LEAD),
    truth_for=("Organization", "Contact", "Deal", "Lead"),
    idempotency_header=None,  # HubSpot has no idempotency keys: a create is never retried blindly
    body="json",
)
