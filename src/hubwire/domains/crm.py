"""CRM Nouns: ``Contact``, ``Organization``, ``Deal``, ``Lead``, the fields HubSpot, Salesforce and
Pipedrive share (after Merge's common CRM model: Contact, Account, Opportunity, Lead).

    Contact -> Organization          (a person and the company they work for)
    Deal    -> Organization, Contact (an opportunity: amount, stage, status, close date)
    Lead    -> Organization, Contact (an unqualified prospect; converting it makes a Contact/Deal)

A Deal's ``status`` follows a state machine (``Open`` -> ``Won`` | ``Lost``, and back to ``Open``)
with the verbs ``win`` (``Deal.Won``) and ``lose`` (``Deal.Lost``); its ``stage`` is the CRM's own
pipeline stage, free text, since every CRM names its stages. A Lead is ``qualify``-ed or
``disqualify``-ed; its ``name`` is the CRM's display name of the lead (Pipedrive's lead title,
Salesforce's ``Name``). Emails and phones are lists: every CRM keeps several; the first is the primary.

These Nouns are filled by the CRM connectors (``hubwire.connectors.hubspot``, ``.salesforce``,
``.pipedrive``); a provider-specific field the model does not name is mapped to one of these by
the Integration's field mappings (:mod:`hubwire.mappings`), and the provider's custom fields no
mapping uses are kept, as the provider names them, in ``remoteData`` (filled by syncs, never
written to the provider).

Schema.org input: a Contact accepts ``{"$type": "Person", "name", "email", "telephone", "jobTitle"}``
and an Organization ``{"$type": "Organization", "name", "url", "industry"}``, mapped by the one
table of :mod:`hubwire.domains.schema_org` (which also says what ``$type`` keeps in exports).
"""

from __future__ import annotations

from hubwire.domains import schema_org
from hubwire.nouns.noun import Noun

__all__ = ["Contact", "Deal", "Lead", "Organization"]

# This module loads lazily, with its connectors (hubwire.connectors.builtin), possibly after the
# program declared a Noun of one of these names (the README tour's own ``Deal``): the program's
# declaration keeps the name; the connectors use the Nouns of this module all the same.
_declared_before = {name: Noun.registry[name] for name in __all__ if name in Noun.registry}

Organization = Noun(
    "Organization",
    {
        "name": "string!#",
        "domain": "string#",
        "website": "string",
        "industry": "string",
        "employees": "integer",
        "phone": "string",
        "city": "string",
        "country": "string",
        "owner": "string",
        "description": "text",
        "remoteData": "json",
    },
    description="A company or account in a CRM.",
)

Contact = Noun(
    "Contact",
    {
        "firstName": "string",
        "lastName": "string",
        "emails": "string[]",
        "email": "string#",
        "phones": "string[]",
        "title": "string",
        "organization": "-> Organization",
        "owner": "string",
        "lifecycleStage": "string",
        "remoteData": "json",
    },
    description="A person in a CRM; ``email`` is the primary of ``emails``.",
)

Deal = Noun(
    "Deal",
    {
        "name": "string!",
        "amount": "number#",
        "currency": "string",
        "stage": "string#",
        "status": "Open | Won | Lost",
        "closeDate": "date",
        "probability": "number",
        "organization": "-> Organization",
        "contact": "-> Contact",
        "owner": "string",
        "remoteData": "json",
        "win": "Won",
        "lose": "Lost",
        "reopen": "Reopened",
    },
    defaults={"status": "Open"},
    states={"status": {"Open": ["Won", "Lost"], "Won": ["Open"], "Lost": ["Open"]}},
    verb_states={"reopen": "Open"},
    description="An opportunity in a CRM pipeline.",
)

Lead = Noun(
    "Lead",
    {
        "name": "string",
        "firstName": "string",
        "lastName": "string",
        "email": "string#",
        "phone": "string",
        "company": "string",
        "title": "string",
        "source": "string",
        "status": "New | Qualified | Disqualified",
        "organization": "-> Organization",
        "contact": "-> Contact",
        "owner": "string",
        "remoteData": "json",
        "qualify": "Qualified",
        "disqualify": "Disqualified",
    },
    defaults={"status": "New"},
    states={"status": {"New": ["Qualified", "Disqualified"], "Qualified": [], "Disqualified": ["New"]}},
    description="An unqualified prospect in a CRM.",
)

Noun.registry.update(_declared_before)

# Schema.org input (the seed's ``{"$type": "Person", ...}``): the table is hubwire.domains.schema_org's.
Contact.accept_type("Person", schema_org.from_person)
Organization.accept_type("Organization", schema_org.from_organization)
