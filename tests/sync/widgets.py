"""A test provider declared with the spec: owners and widgets on the loopback API."""

from __future__ import annotations

from hubwire.connectors.runtime import SpecProvider
from hubwire.connectors.spec import Auth, Endpoint, FieldMap, Pagination, ProviderSpec, RateLimit, Relation, Resource
from hubwire.nouns.noun import Noun

__all__ = ["Owner", "Widget", "Widgets"]

Owner = Noun("Owner", {"name": "string!", "email": "string"})
Widget = Noun("Widget", {"title": "string!", "size": "integer", "owner": "-> Owner", "color": "string"})

SPEC = ProviderSpec(
    base_url="http://127.0.0.1:9/unused",
    auth=Auth("bearer", credential="token"),
    check=Endpoint("GET", "/me"),
    pagination=Pagination("page", page_size=3),
    rate_limit=RateLimit(1000),
    resources=(
        Resource(
            "owner",
            list=Endpoint("GET", "/owners"),
            record_path="items",
            mapping=FieldMap("Owner", {"name": "name", "email": "contact.email"}),
        ),
        Resource(
            "widget",
            list=Endpoint("GET", "/widgets"),
            get=Endpoint("GET", "/widgets/{id}"),
            create=Endpoint("POST", "/widgets"),
            update=Endpoint("PATCH", "/widgets/{id}"),
            delete=Endpoint("DELETE", "/widgets/{id}"),
            direction="pull",  # pushable: an Integration's config directions may say push or both
            record_path="items",
            updated_field="updated",
            incremental_param="since",
            incremental_field="updated",
            mapping=FieldMap(
                "Widget",
                {"title": "name", "size": lambda r: int(r["dims"]["w"]) * 2, "color": "color"},
                {"owner": Relation("owner_id", "owner")},
            ),
        ),
    ),
    truth_for=("Owner",),
)


class Widgets(SpecProvider):
    slug = "widgets"
    name = "Widgets"
    credential_fields = ("token",)
    required_credentials = ("token",)
    syncs = True
    spec = SPEC

    def account(self, body: object) -> dict[str, object] | None:
        return {"login": body["login"]} if isinstance(body, dict) else None
