"""Salesforce as data: the sObjects synced, the fields asked for, and their mapping to the CRM Nouns.

    Account     -> Organization
    Contact     -> Contact       (AccountId -> organization)
    Opportunity -> Deal          (AccountId -> organization, ContactId -> contact; IsWon/IsClosed -> status)
    Lead        -> Lead          (ConvertedAccountId / ConvertedContactId, when converted)

Each sObject has the fields it is asked for (``fields``): a sync selects those the org's describe
lists (an org without ``ContactId`` on Opportunity, or without ``LeadSource``, is still synced),
plus the org's custom fields (the mapped ones fill Noun fields, the others ``remote_data``: see
:mod:`hubwire.connectors.salesforce.fields`). ``WRITES`` is the other way: the
sObject field each Noun field is written to. The base URL is the org's ``instance_url``; every
path is under ``/services/data/v{api_version}`` (:class:`~hubwire.connectors.salesforce.provider.SalesforceConnection`
builds them: ``nextRecordsUrl`` is a path from the host). Describes only: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from hubwire.connectors.spec import Auth, FieldMap, ProviderSpec, RateLimit, Relation, Resource

__all__ = [
    "API_VERSION",
    "REMOTE_FIELD",
    "SALESFORCE",
    "SOBJECTS",
    "SObject",
    "deal_status",
    "lead_status",
]

API_VERSION = "59.0"
# A Salesforce field's API name: standard (``Email``) or custom (``Tier__c``, ``ns__Tier__c``).
REMOTE_FIELD = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,79}")


def deal_status(record: dict[str, Any]) -> str:
    """Opportunity -> Deal.status: ``IsWon`` -> Won, ``IsClosed`` -> Lost, else Open.

    Salesforce derives both flags from the stage; a record read without them (or an org whose
    stages are the defaults) falls back on the default stage names."""
    if record.get("IsWon"):
        return "Won"
    if record.get("IsClosed"):
        return "Lost"
    stage = str(record.get("StageName") or "")
    return {"Closed Won": "Won", "Closed Lost": "Lost"}.get(stage, "Open")


def lead_status(record: dict[str, Any]) -> str:
    """Lead -> Lead.status: converted -> Qualified; closed unconverted ("Closed - Not Converted") -> Disqualified."""
    status = str(record.get("Status") or "")
    if record.get("IsConverted") or status.endswith("- Converted"):
        return "Qualified"
    if status.startswith("Closed") or status.endswith("Not Converted"):
        return "Disqualified"
    return "New"


def _domain(record: dict[str, Any]) -> str | None:
    site = str(record.get("Website") or "").strip()
    if not site:
        return None
    host = urlsplit(site if "//" in site else f"//{site}").hostname or ""
    return host.removeprefix("www.") or None


def _listed(*names: str) -> Any:
    def get(record: dict[str, Any]) -> list[str]:
        return [str(record[n]) for n in names if record.get(n)]

    return get


@dataclass(frozen=True)
class SObject:
    """One synced sObject: its resource (mapping, relations) and the fields a sync asks for."""

    name: str
    resource: Resource
    fields: tuple[str, ...]
    writes: dict[str, str]  # Noun field -> sObject field (relations: the reference field)


def _resource(name: str, mapping: FieldMap) -> Resource:
    return Resource(
        name.lower(),
        mapping=mapping,
        id_field="Id",
        updated_field="SystemModstamp",
        incremental_field="SystemModstamp",
    )


_SYSTEM = ("Id", "IsDeleted", "SystemModstamp", "OwnerId")

ACCOUNT = SObject(
    "Account",
    _resource(
        "Account",
        FieldMap(
            "Organization",
            {
                "name": "Name",
                "domain": _domain,
                "website": "Website",
                "industry": "Industry",
                "employees": "NumberOfEmployees",
                "phone": "Phone",
                "city": "BillingCity",
                "country": "BillingCountry",
                "owner": "OwnerId",
                "description": "Description",
            },
        ),
    ),
    (
        *_SYSTEM,
        "Name",
        "Website",
        "Industry",
        "NumberOfEmployees",
        "Phone",
        "BillingCity",
        "BillingCountry",
        "Description",
    ),
    {
        "name": "Name",
        "website": "Website",
        "industry": "Industry",
        "employees": "NumberOfEmployees",
        "phone": "Phone",
        "city": "BillingCity",
        "country": "BillingCountry",
        "description": "Description",
    },
)

CONTACT = SObject(
    "Contact",
    _resource(
        "Contact",
        FieldMap(
            "Contact",
            {
                "first_name": "FirstName",
                "last_name": "LastName",
                "email": "Email",
                "emails": _listed("Email"),
                "phones": _listed("Phone", "MobilePhone"),
                "title": "Title",
                "owner": "OwnerId",
            },
            {"organization": Relation("AccountId", "account")},
        ),
    ),
    (*_SYSTEM, "FirstName", "LastName", "Email", "Phone", "MobilePhone", "Title", "AccountId"),
    {
        "first_name": "FirstName",
        "last_name": "LastName",
        "email": "Email",
        "title": "Title",
        "organization": "AccountId",
    },
)

OPPORTUNITY = SObject(
    "Opportunity",
    _resource(
        "Opportunity",
        FieldMap(
            "Deal",
            {
                "name": "Name",
                "amount": "Amount",
                "currency": "CurrencyIsoCode",
                "stage": "StageName",
                "status": deal_status,
                "close_date": "CloseDate",
                "probability": "Probability",
                "owner": "OwnerId",
            },
            {"organization": Relation("AccountId", "account"), "contact": Relation("ContactId", "contact")},
        ),
    ),
    (
        *_SYSTEM,
        "Name",
        "Amount",
        "CurrencyIsoCode",
        "StageName",
        "IsWon",
        "IsClosed",
        "CloseDate",
        "Probability",
        "AccountId",
        "ContactId",
    ),
    {
        "name": "Name",
        "amount": "Amount",
        "stage": "StageName",
        "close_date": "CloseDate",
        "probability": "Probability",
        "organization": "AccountId",
        "contact": "ContactId",
    },
)

LEAD = SObject(
    "Lead",
    _resource(
        "Lead",
        FieldMap(
            "Lead",
            {
                "name": lambda r: " ".join(str(r[n]) for n in ("FirstName", "LastName") if r.get(n)) or None,
                "first_name": "FirstName",
                "last_name": "LastName",
                "email": "Email",
                "phone": "Phone",
                "company": "Company",
                "title": "Title",
                "source": "LeadSource",
                "status": lead_status,
                "owner": "OwnerId",
            },
            {
                "organization": Relation("ConvertedAccountId", "account"),
                "contact": Relation("ConvertedContactId", "contact"),
            },
        ),
    ),
    (
        *_SYSTEM,
        "FirstName",
        "LastName",
        "Email",
        "Phone",
        "Company",
        "Title",
        "LeadSource",
        "Status",
        "IsConverted",
        "ConvertedAccountId",
        "ConvertedContactId",
    ),
    {
        "first_name": "FirstName",
        "last_name": "LastName",
        "email": "Email",
        "phone": "Phone",
        "company": "Company",
        "title": "Title",
        "source": "LeadSource",
    },
)

# Order matters: an sObject comes after those its references point to.
SOBJECTS: tuple[SObject, ...] = (ACCOUNT, CONTACT, OPPORTUNITY, LEAD)

SALESFORCE = ProviderSpec(
    base_url="https://login.salesforce.com",  # replaced by the org's instance_url on every connection
    auth=Auth("bearer", credential="access_token"),
    check=None,  # the provider asks /services/data/v{api_version} (under the org's instance_url)
    # Salesforce counts requests per 24 hours (Sforce-Limit-Info), not per second; 25 concurrent long
    # requests is its other limit. This only keeps a sync from hammering the org.
    rate_limit=RateLimit(20, 1.0),
    resources=tuple(s.resource for s in SOBJECTS),
    truth_for=("Organization", "Contact", "Deal", "Lead"),
    idempotency_header=None,  # Salesforce has no idempotency keys: creates are never retried blindly
    body="json",
)
