"""The public surface is what ``hubwire/__init__.py`` exports; changing it is a decision."""

from __future__ import annotations

import pickle

import hubwire
from hubwire import errors


def test_every_exported_name_exists() -> None:
    for name in hubwire.__all__:
        assert hasattr(hubwire, name), name


def test_core_names_are_exported() -> None:
    core = {"Noun", "Integration", "Hub", "on", "Worker", "job_kind", "Provider", "HubwireError", "ValidationError"}
    assert core <= set(hubwire.__all__)


def test_errors_have_stable_codes_and_pickle() -> None:
    codes = set()
    for name in errors.__all__:
        cls = getattr(errors, name)
        if isinstance(cls, type) and issubclass(cls, errors.HubwireError):
            assert cls.code and cls.code not in codes, name
            codes.add(cls.code)
    err = errors.ValidationError.single("name", "required", "name is required", noun="Deal")
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is errors.ValidationError and back.code == "validation_error"
    assert back.fields["noun"] == "Deal" and back.fields["errors"][0]["field"] == "name"
    conflict = pickle.loads(pickle.dumps(errors.ConflictError("x", code="version_conflict", id="deal_1")))
    assert conflict.code == "version_conflict" and conflict.fields == {"id": "deal_1"}
