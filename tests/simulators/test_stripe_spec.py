"""Stripe's bracket notation, casting by schema, the request checker, and the shared spec loading."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import parse_qsl

import pytest

from hubwire.simulators import specs
from hubwire.simulators.specs import fix_nullable, locate_specs_dir
from hubwire.simulators.stripe.spec import StripeSpecChecker, listify, parse_brackets


def form(qs: str) -> dict[str, object]:
    return parse_brackets(parse_qsl(qs, keep_blank_values=True))


def test_bracket_notation() -> None:
    assert form("a=1&metadata[k]=v&metadata[k2]=") == {"a": "1", "metadata": {"k": "v", "k2": ""}}
    assert form("address[city]=X&address[geo][lat]=1") == {"address": {"city": "X", "geo": {"lat": "1"}}}
    assert form("expand[]=a&expand[]=b") == {"expand": ["a", "b"]}
    assert form("items[0][price]=p&items[1][price]=q&items[0][quantity]=2") == {
        "items": {"0": {"price": "p", "quantity": "2"}, "1": {"price": "q"}}
    }
    assert form("tiers[][up_to]=5&tiers[][up_to]=inf") == {"tiers": [{"up_to": "5"}, {"up_to": "inf"}]}
    nested = listify(form("items[1][price]=q&items[0][price]=p&metadata[0]=zero"))
    assert nested == {"items": [{"price": "p"}, {"price": "q"}], "metadata": {"0": "zero"}}


def test_nullable_fix_up() -> None:
    doc = {
        "a": {"nullable": True, "anyOf": [{"type": "string"}]},
        "b": {"nullable": True, "enum": ["x"]},
        "c": {"nullable": True, "allOf": [{"$ref": "#/x"}]},
        "d": {"anyOf": [{"type": "string"}]},
    }
    fix_nullable(doc)
    assert doc["a"]["anyOf"][-1] == {"enum": [None]}
    assert doc["b"]["enum"] == ["x", None]
    assert doc["c"]["anyOf"] == [{"allOf": [{"$ref": "#/x"}]}, {"enum": [None]}]
    assert doc["d"]["anyOf"] == [{"type": "string"}]


def test_locate_specs_dir_honours_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUBWIRE_SPECS_DIR", str(tmp_path))
    assert locate_specs_dir() == tmp_path
    monkeypatch.setenv("HUBWIRE_SPECS_DIR", str(tmp_path / "absent"))
    assert locate_specs_dir() is None
    assert StripeSpecChecker.from_specs_dir(tmp_path) is None


def test_yaml_documents_are_cached_as_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    source = tmp_path / "tiny.yaml"
    source.write_text("openapi: 3.0.0\npaths:\n  /v1/x:\n    get:\n      responses: {}\n")
    first = specs.load_document(source)
    assert first.doc["paths"]["/v1/x"]["get"] == {"responses": {}}
    assert specs.load_document(source) is first
    cached = list((tmp_path / "cache" / "hubwire" / "specs").glob("tiny-*.json"))
    assert len(cached) == 1 and '"/v1/x"' in cached[0].read_text()


def check(checker: StripeSpecChecker, method: str, path: str, qs: str = "", body: str = "") -> list[str]:
    verdict = checker.check(method, path, form(qs), form(body), "application/x-www-form-urlencoded", bool(body))
    return list(verdict.problems)


def test_checker_accepts_what_the_connector_sends(stripe_spec: StripeSpecChecker) -> None:
    assert check(stripe_spec, "GET", "/v1/customers", "limit=100&starting_after=cus_1&created[gte]=1700000000") == []
    assert check(stripe_spec, "GET", "/v1/events", "types[]=customer.created&created[gt]=5&expand[]=data") == []
    assert check(stripe_spec, "GET", "/v1/subscriptions", "status=all&expand[0]=data.customer") == []
    body = "customer=cus_1&items[0][price]=price_1&items[0][quantity]=2&metadata[hubwire_id]=x"
    assert check(stripe_spec, "POST", "/v1/subscriptions", body=body) == []
    assert check(stripe_spec, "POST", "/v1/customers/cus_1", body="metadata=&email=") == []
    assert check(stripe_spec, "DELETE", "/v1/subscriptions/sub_1", qs="invoice_now=true") == []
    assert check(stripe_spec, "GET", "/v1/customers/search", "query=email:'a'") == []


def test_checker_reports_wrong_names_types_and_shapes(stripe_spec: StripeSpecChecker) -> None:
    assert check(stripe_spec, "GET", "/v1/customers", "limit=lots")[0].endswith("'lots' is not of type 'integer'")
    assert "unknown parameter per_page" in check(stripe_spec, "GET", "/v1/customers", "per_page=5")[0]
    assert "created" in check(stripe_spec, "GET", "/v1/customers", "created[since]=5&created[gte]=x")[0]
    assert (
        "'customer' is a required property"
        in check(stripe_spec, "POST", "/v1/subscriptions", body="items[0][price]=p")[0]
    )
    assert (
        "[items][0][quantity]"
        in check(stripe_spec, "POST", "/v1/subscriptions", body="customer=c&items[0][quantity]=x")[0]
    )
    assert "unknown parameter emial" in check(stripe_spec, "POST", "/v1/customers", body="emial=x")[0]
    assert check(stripe_spec, "PATCH", "/v1/customers/cus_1")[0].startswith(
        "PATCH /v1/customers/cus_1: no such operation"
    )
    verdict = stripe_spec.check("POST", "/v1/customers", {}, {}, "application/json", True)
    assert "must be application/x-www-form-urlencoded" in verdict.problems[0]


def test_spec_loads_once(stripe_spec: StripeSpecChecker) -> None:
    t0 = time.perf_counter()
    again = StripeSpecChecker.from_specs_dir(locate_specs_dir() or Path("."))
    assert again is not None and again.doc is stripe_spec.doc
    assert time.perf_counter() - t0 < 0.5
