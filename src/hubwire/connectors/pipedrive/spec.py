"""Pipedrive as data: endpoints, paging, and the mapping of its records to the CRM Nouns.

    organizations -> Organization   (v2: cursor paging, updated_since)
    persons       -> Contact        (v2; org_id -> organization)
    deals         -> Deal           (v2; org_id, person_id; status open/won/lost -> Open/Won/Lost)
    leads         -> Lead           (v1: start/limit paging with more_items_in_collection; UUID ids)

Lists are incremental by ``update_time`` (``updated_since``, inclusive: the boundary record comes
back and hashes as unchanged). Custom fields are keyed by 40-character hashes: v2 records hold
them in ``custom_fields``, v1 (leads) at the top level; an Integration's ``field_mappings`` says
which fills which Noun field. Describes only: no I/O.
"""

from __future__ import annotations

import re
from typing import Any

from hubwire.connectors.spec import Auth, Endpoint, FieldMap, Pagination, ProviderSpec, RateLimit, Relation, Resource

__all__ = ["DEAL_STATUS", "PIPEDRIVE", "REMOTE_FIELD", "custom_value"]

# A Pipedrive field key: a custom field's 40-character hash, or a standard key (``label``).
REMOTE_FIELD = re.compile(r"[a-z0-9_]{1,64}")
DEAL_STATUS = {"open": "Open", "won": "Won", "lost": "Lost"}
PAGE = 500  # the most Pipedrive lists return (v1 and v2)


def custom_value(key: str) -> Any:
    """A field source reading a custom field by its key, wherever the record's version keeps it."""

    def get(record: dict[str, Any]) -> Any:
        custom = record.get("custom_fields")
        value = custom.get(key) if isinstance(custom, dict) and key in custom else record.get(key)
        # Monetary and option values come as objects: their value is what a Noun field holds.
        return value.get("value") if isinstance(value, dict) else value

    return get


def _owner(record: dict[str, Any]) -> str | None:
    owner = record.get("owner_id")
    if isinstance(owner, dict):
        owner = owner.get("id") or owner.get("value")
    return None if owner is None else str(owner)


def _values(key: str) -> Any:
    def get(record: dict[str, Any]) -> list[str]:
        items = record.get(key) or []
        ordered = sorted((i for i in items if isinstance(i, dict)), key=lambda i: not i.get("primary"))
        return [str(i["value"]) for i in ordered if i.get("value")]

    return get


def _primary(key: str) -> Any:
    def get(record: dict[str, Any]) -> str | None:
        found = _values(key)(record)
        return found[0] if found else None

    return get


def _last_name(record: dict[str, Any]) -> Any:
    # A person entered with a single name has it in ``name`` only.
    return record.get("last_name") or (record.get("name") if not record.get("first_name") else None)


def _v2(name: str, mapping: FieldMap) -> Resource:
    return Resource(
        name,
        list=Endpoint("GET", f"/api/v2/{name}", params=(("sort_by", "update_time"), ("sort_direction", "asc"))),
        get=Endpoint("GET", f"/api/v2/{name}/{{id}}"),
        create=Endpoint("POST", f"/api/v2/{name}"),
        update=Endpoint("PATCH", f"/api/v2/{name}/{{id}}"),
        mapping=mapping,
        updated_field="update_time",
        incremental_param="updated_since",
        incremental_field="update_time",
    )


ORGANIZATIONS = _v2("organizations", FieldMap("Organization", {"name": "name", "owner": _owner}))
PERSONS = _v2(
    "persons",
    FieldMap(
        "Contact",
        {
            "first_name": "first_name",
            "last_name": _last_name,
            "emails": _values("emails"),
            "email": _primary("emails"),
            "phones": _values("phones"),
            "owner": _owner,
        },
        {"organization": Relation("org_id", "organizations")},
    ),
)
DEALS = _v2(
    "deals",
    FieldMap(
        "Deal",
        {
            "name": "title",
            "amount": "value",
            "currency": "currency",
            "stage": lambda r: None if r.get("stage_id") is None else str(r["stage_id"]),
            "status": lambda r: DEAL_STATUS.get(str(r.get("status") or "open"), "Open"),
            "close_date": "expected_close_date",
            "probability": "probability",
            "owner": _owner,
        },
        {"organization": Relation("org_id", "organizations"), "contact": Relation("person_id", "persons")},
    ),
)
LEADS = Resource(
    "leads",
    list=Endpoint("GET", "/api/v1/leads", params=(("archived_status", "all"),)),
    get=Endpoint("GET", "/api/v1/leads/{id}"),
    create=Endpoint("POST", "/api/v1/leads"),
    update=Endpoint("PATCH", "/api/v1/leads/{id}"),
    mapping=FieldMap(
        "Lead",
        {
            "name": "title",
            "status": lambda r: "Disqualified" if r.get("is_archived") else "New",
            "owner": _owner,
        },
        {"organization": Relation("organization_id", "organizations"), "contact": Relation("person_id", "persons")},
    ),
    updated_field="update_time",
    incremental_param="updated_since",
    incremental_field="update_time",
    pagination=Pagination(
        "offset",
        page_size=PAGE,
        offset_param="start",
        has_more_path="additional_data.pagination.more_items_in_collection",
    ),
)

# Order matters: a resource comes after those its relations point to.
PIPEDRIVE = ProviderSpec(
    base_url="https://api.pipedrive.com",
    auth=Auth("header", credential="api_token", header="x-api-token"),
    check=Endpoint("GET", "/api/v2/persons", params=(("limit", "1"),)),
    pagination=Pagination(
        "next_token", page_size=PAGE, cursor_param="cursor", token_path="additional_data.next_cursor"
    ),
    # Pipedrive budgets tokens per company per 2-second window (and per day); a 429 carries
    # Retry-After. This keeps a sync's bursts under the smallest plan's window.
    rate_limit=RateLimit(20, 2.0),
    resources=(ORGANIZATIONS, PERSONS, DEALS, LEADS),
    truth_for=("Organization", "Contact", "Deal", "Lead"),
    idempotency_header=None,  # Pipedrive has no idempotency keys: creates are never retried blindly
    body="json",
)
