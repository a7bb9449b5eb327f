"""How connectors apply user field mappings: the stored spelling read back, transformed reads and
writes, and ``remote_data`` (secrets masked)."""

from __future__ import annotations

from hubwire.connectors.mappings import apply_mappings, remote_data, user_mappings, written
from hubwire.connectors.spec import FieldMap
from hubwire.net.redact import REDACTED

CONFIG = {
    "field_mappings": {
        "Contact": [
            {"remote": "tier", "field": "lifecycleStage", "transform": {"type": "enum", "map": {"1": "customer"}}},
            {"remote": "seen", "field": "title", "transform": "date", "direction": "pull"},
        ]
    }
}


def test_both_spellings_are_read() -> None:
    assert [(m.remote, m.field) for m in user_mappings(CONFIG, "Contact")] == [
        ("tier", "lifecycle_stage"),
        ("seen", "title"),
    ]
    first = {"field_mappings": {"Contact.lifecycleStage": "Tier__c", "Deal.stage": "Phase__c"}}
    assert [(m.remote, m.field, m.transform) for m in user_mappings(first, "Contact")] == [
        ("Tier__c", "lifecycle_stage", None)
    ]
    assert user_mappings({"field_mappings": {"Contact": "garbage"}}, "Contact") == []


def test_reads_go_through_the_transform_and_writes_through_its_inverse() -> None:
    mapping = apply_mappings(FieldMap("Contact", {"title": "jobTitle"}), user_mappings(CONFIG, "Contact"), str)
    assert mapping.apply({"tier": 1, "seen": "2026-05-04T10:00:00Z", "jobTitle": "CTO"}) == {
        "title": "2026-05-04",
        "lifecycle_stage": "customer",
    }
    # title's mapping only pulls: it is never written; an unknown value has no inverse.
    assert written(CONFIG, "Contact", {"lifecycle_stage": "customer", "title": "CTO"}) == {"tier": "1"}
    assert written(CONFIG, "Contact", {"lifecycle_stage": "churned"}) == {}  # the remote keeps its value
    assert written(CONFIG, "Contact", {"lifecycle_stage": None}) == {"tier": None}  # cleared


def test_remote_data_keeps_what_no_mapping_uses_and_masks_secrets() -> None:
    custom = {"tier": "1", "shoe": 38, "empty": "", "api_token__c": "abc-123-secret", "note": "sk_live_abcdefgh12345"}
    assert remote_data(custom, {"tier"}) == {"shoe": 38, "api_token__c": REDACTED, "note": REDACTED}
    assert remote_data({"tier": "1"}, {"tier"}) is None and remote_data(None, ()) is None
