"""The ``analytics`` provider: an Integration that forwards events to GA4, PostHog, Sentry, Mixpanel, Segment.

    await Integration.connect(provider="analytics",
        destinations={"ga": {"measurement_id": "G-...", "api_secret": "..."},
                      "sentry": {"dsn": "https://key@o1.ingest.sentry.io/42"},
                      "posthog": {"api_key": "phc_...", "host": "https://eu.i.posthog.com"}},
        events=["Deal.Closed", "Integration.*"])

Any one destination may be connected alone (``destinations={"posthog": {...}}``). The whole
``destinations`` mapping is stored encrypted as the Integration's credentials; its config keeps
the destination names, ``events`` (Hubwire events to forward, checked against the registry like a
webhook's; none by default), ``collect`` (forward events from ``POST /v1/collect``, default true),
``batch_size`` (default 100) and ``flush_interval`` (seconds, default 2). Connecting checks every
destination URL with the SSRF guard. The Integration's slug is ``analytics-<destinations>``, so
reconnecting the same destinations updates that Integration.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from hubwire.analytics.destinations import DESTINATIONS
from hubwire.analytics.forwarding import DEFAULT_BATCH_SIZE, DEFAULT_FLUSH_INTERVAL, PROVIDER
from hubwire.connectors.registry import Provider, ProviderContext, provider
from hubwire.errors import FieldError, ValidationError
from hubwire.net.ssrf import check_url, normalize_url
from hubwire.webhooks.subscriptions import check_events

if TYPE_CHECKING:
    from hubwire.hub import Hub
    from hubwire.nouns.entity import Entity

__all__ = ["AnalyticsProvider"]


def _check_destinations(value: Any) -> list[FieldError]:
    if not isinstance(value, Mapping) or not value:
        names = ", ".join(DESTINATIONS)
        return [FieldError("destinations", "invalid", f"destinations must be a non-empty mapping of {names}")]
    errors: list[FieldError] = []
    for name, conf in value.items():
        dest = DESTINATIONS.get(name)
        if dest is None:
            errors.append(
                FieldError(
                    f"destinations.{name}",
                    "unknown_destination",
                    f"unknown destination {name!r} (one of {', '.join(DESTINATIONS)})",
                )
            )
            continue
        errors += dest.check(conf, f"destinations.{name}")
        if name == "mixpanel" and isinstance(conf, Mapping) and not errors:
            service = all(conf.get(k) for k in ("service_account_username", "service_account_secret", "project_id"))
            if not conf.get("api_secret") and not service:
                errors.append(
                    FieldError(
                        "destinations.mixpanel",
                        "required",
                        "Mixpanel needs api_secret, or service_account_username, service_account_secret and project_id",
                    )
                )
        if not errors and isinstance(conf, Mapping) and conf.get("host"):
            try:
                conf = {**conf, "host": normalize_url(str(conf["host"]))}
            except ValidationError as exc:
                errors += [FieldError(f"destinations.{name}.host", e.code, e.message) for e in exc.errors]
    return errors


def _from_text(config: dict[str, Any]) -> None:
    """The numbers and the switch a command line gives as text, read as what they say (else left for the checks)."""
    for name, kind in (("batch_size", int), ("flush_interval", float)):
        if isinstance(config.get(name), str):
            with contextlib.suppress(ValueError):
                config[name] = kind(config[name])
    collect = config.get("collect")
    if isinstance(collect, str) and collect.lower() in ("true", "false", "1", "0", "yes", "no"):
        config["collect"] = collect.lower() in ("true", "1", "yes")


@provider
class AnalyticsProvider(Provider):
    slug = PROVIDER
    name = "Analytics"
    category = "Analytics"
    auth_type = "ApiKey"
    description = "Forwards Hubwire and collected (browser, server) events to GA4, PostHog, Sentry, Mixpanel, Segment."
    credential_fields: ClassVar[tuple[str, ...]] = ("destinations",)
    required_credentials: ClassVar[tuple[str, ...]] = ("destinations",)
    config_fields: ClassVar[tuple[str, ...]] = ("events", "collect", "batch_size", "flush_interval")

    def slug_for(self, config: Mapping[str, Any]) -> str | None:
        return "-".join([PROVIDER, *sorted(config.get("destinations") or ())])

    def prepare(self, params: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        creds, config = super().prepare(params)
        if isinstance(creds.get("destinations"), str):  # a command line gives them as JSON text
            try:
                creds["destinations"] = json.loads(creds["destinations"])
            except ValueError:
                raise ValidationError.single(
                    "destinations", "invalid_json", "destinations must be a JSON object", provider=PROVIDER
                ) from None
        errors = _check_destinations(creds.get("destinations"))
        _from_text(config)
        if "events" in config:
            events = config["events"]
            if isinstance(events, str):
                events = config["events"] = [e.strip() for e in events.split(",") if e.strip()]
            errors += check_events(events)
        batch = config.get("batch_size", DEFAULT_BATCH_SIZE)
        if isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= 1000:
            errors.append(FieldError("batch_size", "out_of_range", "batch_size must be an integer in [1, 1000]"))
        interval = config.get("flush_interval", DEFAULT_FLUSH_INTERVAL)
        if isinstance(interval, bool) or not isinstance(interval, int | float) or not 0.05 <= interval <= 3600:
            errors.append(
                FieldError("flush_interval", "out_of_range", "flush_interval must be seconds in [0.05, 3600]")
            )
        if not isinstance(config.get("collect", True), bool):
            errors.append(FieldError("collect", "invalid", "collect must be true or false"))
        if errors:
            raise ValidationError(
                "cannot connect analytics: " + "; ".join(e.message for e in errors), errors, provider=PROVIDER
            )
        creds["destinations"] = {k: dict(v) for k, v in creds["destinations"].items()}
        config["destinations"] = sorted(creds["destinations"])
        return creds, config

    async def updating(self, hub: Hub, current: Entity, proposed: Entity) -> None:
        """An update (PATCH) that changes ``config.events`` is checked against the registry, as at connect."""
        await super().updating(hub, current, proposed)
        config = proposed.get("config")
        if not isinstance(config, Mapping) or config.get("events") == (current.get("config") or {}).get("events"):
            return
        errors = check_events(config.get("events"), "config.events")
        if errors:
            raise ValidationError(
                "cannot update analytics: " + "; ".join(e.message for e in errors), errors, provider=PROVIDER
            )

    async def check(self, ctx: ProviderContext) -> dict[str, Any] | None:
        """Every destination URL through the SSRF guard (what it resolves to): a refusal is a 422."""
        for name, conf in (ctx.credentials.get("destinations") or {}).items():
            for url in DESTINATIONS[name].urls(conf):
                await check_url(url, ctx.policy, field=f"destinations.{name}")
        return None
