"""The public surface is what ``hubwire/__init__.py`` exports; changing it is a decision."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any

import hubwire
from hubwire import errors

BUILTIN_SLUGS = [
    "analytics",
    "github",
    "hubspot",
    "pipedrive",
    "salesforce",
    "sendgrid",
    "slack",
    "stripe",
    "teams",
    "twilio",
    "webhook",
]


def _fresh(code: str) -> Any:
    """Run ``code`` in a new interpreter (nothing imported yet); it prints one JSON value."""
    r = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60, check=False
    )
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_all_names_exactly_what_the_package_exposes() -> None:
    # As httpx's test_exported_members: every public name is in __all__ and every name in
    # __all__ is there. Submodules (hubwire.errors, ...) are the only other public attributes,
    # and they must be real submodules (an `import hubwire.x.y` in __init__ binds `hubwire`).
    found = _fresh(
        """
        import json, types
        import hubwire
        public = [n for n in vars(hubwire) if not n.startswith("_")]
        modules = [n for n in public if isinstance(getattr(hubwire, n), types.ModuleType)]
        print(json.dumps({
            "names": sorted(set(public) - set(modules)),
            "foreign_modules": sorted(n for n in modules if getattr(hubwire, n).__name__ != "hubwire." + n),
            "all": hubwire.__all__,
        }))
        """
    )
    assert found["foreign_modules"] == []
    assert len(found["all"]) == len(set(found["all"]))
    assert set(found["names"]) == set(found["all"]) - {"__version__"}
    assert "__version__" in found["all"]


def test_the_same_holds_in_this_process() -> None:
    public = {n: v for n, v in vars(hubwire).items() if not n.startswith("_")}
    names = {n for n, v in public.items() if not (isinstance(v, ModuleType) and v.__name__ == f"hubwire.{n}")}
    assert names == set(hubwire.__all__) - {"__version__"}
    for name in hubwire.__all__:
        assert hasattr(hubwire, name), name


def test_importing_hubwire_registers_nothing() -> None:
    loaded = _fresh(
        """
        import json, sys
        import hubwire
        print(json.dumps(sorted(m for m in sys.modules if m.startswith(("hubwire.webhooks", "hubwire.connectors.")))))
        """
    )
    # registration (how connect registers provider webhooks), directions and spec (what the sync's merge
    # asks of a provider's push directions) are modules of functions and dataclasses: they register nothing.
    assert loaded == [
        "hubwire.connectors.builtin",
        "hubwire.connectors.directions",
        "hubwire.connectors.registration",
        "hubwire.connectors.registry",
        "hubwire.connectors.spec",
    ]


def test_the_builtin_providers_are_there_for_every_hub(tmp_path: Path) -> None:
    # A new interpreter, `import hubwire` only: the built-ins load on first use, and a Hub fans
    # events out to a webhook endpoint (the webhooks subsystem's extension is installed).
    found = _fresh(
        f"""
        import asyncio, json
        import hubwire

        async def main():
            async with hubwire.Hub(
                database_url="sqlite:///{tmp_path / "h.db"}", data_dir="{tmp_path}", secret_key="k",
                allow_private_networks=True,
            ) as hub:
                slugs = [p.slug for p in hub.providers.all()]
                await hubwire.Integration.connect(provider="webhook", url="http://127.0.0.1:9/x", events=["Metric.*"])
                await hubwire.Metric.create(name="signups", value=1)
                from hubwire.webhooks import list_deliveries
                return slugs, len(await list_deliveries(hub))

        slugs, deliveries = asyncio.run(main())
        print(json.dumps({{"slugs": slugs, "deliveries": deliveries}}))
        """
    )
    assert found == {"slugs": BUILTIN_SLUGS, "deliveries": 1}


def test_the_default_registry_loads_the_builtins_without_a_hub() -> None:
    slugs = _fresh(
        """
        import json
        from hubwire.connectors.registry import default_registry
        print(json.dumps("stripe" in default_registry and [p.slug for p in default_registry.all()]))
        """
    )
    assert slugs == BUILTIN_SLUGS


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


def test_errors_say_whether_a_retry_may_help() -> None:
    assert errors.ProviderUnavailable("down").retryable and errors.ProviderRateLimited("slow").retryable
    assert errors.ProviderError("odd answer").retryable and errors.VersionConflictError("stale").retryable
    for refused in (
        errors.ProviderAuthError("bad key"),
        errors.ProviderInvalidRequest("bad param"),
        errors.ProviderNotFound("gone"),
        errors.ValidationError("bad input"),
        errors.IllegalTransitionError("Closed -> Open"),
        errors.ConflictError("taken"),
        errors.ConfigurationError("HUBWIRE_PORT must be ..."),
        errors.NotFoundError("no such deal"),
    ):
        assert refused.retryable is False, type(refused).__name__
    # A raise site knows better than the class: another run still going is worth waiting for.
    running = errors.ConflictError("a sync is running", code="sync_running", retryable=True, retry_after=60.0)
    assert running.retryable and running.retry_after == 60.0 and not errors.ConflictError("x").retryable


def test_typed_attributes_survive_a_pickle_and_show_in_the_fields() -> None:
    limited = errors.ProviderRateLimited("slow down", retry_after=2.5, provider_status=429, provider="stripe")
    back = pickle.loads(pickle.dumps(limited))
    assert type(back) is errors.ProviderRateLimited and str(back) == "slow down" and back.args == ("slow down",)
    assert (back.retryable, back.retry_after, back.provider_status, back.status) == (True, 2.5, 429, 429)
    assert back.fields == {"retry_after": 2.5, "provider_status": 429, "provider": "stripe"}
    assert back.to_dict() == {"code": "provider_rate_limited", "message": "slow down", **back.fields}
    changed = pickle.loads(pickle.dumps(errors.ConflictError("x", code="sync_running", retryable=True)))
    assert (changed.code, changed.retryable, changed.retry_after) == ("sync_running", True, None)
    stale = pickle.loads(pickle.dumps(errors.VersionConflictError("stale", id="deal_1")))
    assert isinstance(stale, errors.ConflictError) and stale.code == "version_conflict" and stale.status == 409
