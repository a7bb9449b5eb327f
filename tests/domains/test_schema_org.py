"""Schema.org input for the CRM Nouns (the seed's ``$type: Person / Organization``): SDK and REST
(the write-through of a Person to Salesforce: tests/connectors/test_direct.py)."""

from __future__ import annotations

from typing import Any

import pytest

from hubwire.domains.crm import Contact, Organization
from hubwire.domains.schema_org import as_schema_org
from hubwire.errors import ValidationError
from hubwire.hub import Hub
from tests.api.conftest import rest_client

PERSON: dict[str, Any] = {
    "$type": "Person",
    "name": "John Smith",
    "email": "john@example.com",
    "telephone": "+1-555-0100",
    "jobTitle": "CEO",
}


async def test_a_person_is_a_contact_and_an_organization_one(hub: Hub) -> None:
    acme = await Organization.create(
        {"$type": "Organization", "name": "Acme Corp", "url": "https://www.acme.com", "industry": "Technology"}
    )
    assert (acme["name"], acme["website"], acme["domain"], acme["industry"]) == (
        "Acme Corp",
        "https://www.acme.com",
        "acme.com",
        "Technology",
    )
    john = await Contact.create({**PERSON, "worksFor": acme.id})
    assert john["$type"] == "Contact"  # the Noun's type is what is stored and exported
    assert (john["first_name"], john["last_name"], john["title"]) == ("John", "Smith", "CEO")
    assert (john["email"], john["emails"], john["phones"]) == (
        "john@example.com",
        ["john@example.com"],
        ["+1-555-0100"],
    )
    assert john["organization"] == acme.id
    exported = {**PERSON, "$id": john.id, "worksFor": acme.id, "givenName": "John", "familyName": "Smith"}
    assert as_schema_org(john) == exported
    assert as_schema_org(acme)["url"] == "https://www.acme.com"
    moved = await Contact.update(john.id, {"$type": "Person", "jobTitle": "CTO"})
    assert (moved["title"], moved["first_name"]) == ("CTO", "John")
    single = await Contact.create({"$type": "Person", "name": "Cher"})
    assert (single["first_name"], single["last_name"]) == (None, "Cher")
    with pytest.raises(ValidationError) as bad:
        await Contact.create({"$type": "Person", "name": "X", "birthPlace": "Paris"})
    assert bad.value.errors[0].field == "birthPlace" and bad.value.errors[0].code == "unknown_field"


async def test_rest_post_contacts_takes_a_person(hub: Hub) -> None:
    async with rest_client(hub) as client:
        r = await client.post("/v1/contacts", json=PERSON)
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["$type"] == "Contact" and body["last_name"] == "Smith" and body["title"] == "CEO"
        bad = await client.post("/v1/contacts", json={"$type": "Person", "name": 3})
        assert bad.status_code == 422
