"""The ``webhook`` provider: a subscriber endpoint is an Integration connected with it.

    await Integration.connect(provider="webhook", url="https://example.com/hooks/x",
                              events=["Deal.Closed", "Deal.*"], secret="whsec_...")

Every connect makes a new Integration. ``prepare`` validates the URL's form, the event filters
and the delivery policy, and generates a ``whsec_`` secret when none is given (returned once, in
the connect result; stored encrypted, never listed). ``check`` runs the SSRF guard on what the
URL resolves to, so a refused address is a 422 naming the reason. An update of the config (PATCH)
goes through the same two checks (``updating``): one code path for a URL, however it comes in.

Event filters are checked against the event registry (:mod:`hubwire.events`) as it is at that
moment: a name, ``Noun.*`` or ``*`` that selects no event is refused with the nearest names, at
connect and when an update (PATCH) changes the endpoint's ``config.events``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from hubwire.connectors.registry import Provider, ProviderContext, provider
from hubwire.errors import FieldError, ValidationError
from hubwire.events import registry as event_registry
from hubwire.net.ssrf import check_url, normalize_url
from hubwire.vault.credentials import load_credentials
from hubwire.webhooks.endpoints import PROVIDER, parse_policy
from hubwire.webhooks.signing import new_secret, secret_key

if TYPE_CHECKING:
    from hubwire.hub import Hub
    from hubwire.nouns.entity import Entity

__all__ = ["WebhookProvider", "check_events"]

_RESERVED_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature", "content-type", "content-length", "host")


_LISTS = ("events", "schedule")
_NUMBERS = ("max_attempts", "rate_limit", "concurrency", "timeout", "disable_after")


def _from_text(key: str, value: Any) -> Any:
    """Values given as text (CLI flags, form fields): JSON, or a comma-separated list, or a number."""
    if not isinstance(value, str):
        return list(value) if isinstance(value, tuple) else value
    text = value.strip()
    if key in _LISTS or key in ("headers", "backoff"):
        if text[:1] in ("[", "{"):
            try:
                return json.loads(text)
            except ValueError:
                return value
        if key in _LISTS:
            items = [t.strip() for t in text.split(",") if t.strip()]
            return items if key == "events" else [_number(t) for t in items]
    if key in _NUMBERS:
        return _number(text)
    return value


def _number(text: str) -> Any:
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


def check_events(events: Any, field: str = "events") -> list[FieldError]:
    """The form of the filters, then each against the registry (which must have an event it selects)."""
    if not isinstance(events, list | tuple) or not events or not all(isinstance(e, str) and e for e in events):
        return [FieldError(field, "invalid", "events must be a non-empty list like ['Deal.Closed', 'Deal.*', '*']")]
    bad = [e for e in events if "*" in e and e != "*" and not (e.endswith(".*") and "*" not in e[:-2])]
    if bad:
        return [FieldError(field, "invalid", f"bad event filter(s) {bad}: use 'Noun.Event', 'Noun.*' or '*'")]
    return event_registry.unknown(events, field)


def _check_headers(headers: Any) -> list[FieldError]:
    if headers is None:
        return []
    if not isinstance(headers, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        return [FieldError("headers", "invalid", "headers must be a mapping of strings to strings")]
    taken = [k for k in headers if k.lower() in _RESERVED_HEADERS]
    if taken:
        return [FieldError("headers", "reserved", f"headers {taken} are set by Hubwire and cannot be overridden")]
    return []


@provider
class WebhookProvider(Provider):
    slug = PROVIDER
    name = "Webhook"
    category = "Other"
    auth_type = "Custom"
    description = "Signed (Standard Webhooks), retried delivery of events to an HTTP endpoint."
    webhook_support = True
    # Custom headers often carry the receiver's own credentials: they are encrypted with the secret.
    credential_fields: ClassVar[tuple[str, ...]] = ("secret", "headers")
    config_fields: ClassVar[tuple[str, ...]] = (
        "url",
        "events",
        "max_attempts",
        "schedule",
        "backoff",
        "rate_limit",
        "concurrency",
        "timeout",
        "disable_after",
    )

    def __init__(self) -> None:
        self._generated: set[str] = set()

    def slug_for(self, config: Mapping[str, Any]) -> str | None:
        return None

    def prepare(self, params: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        creds, config = super().prepare(params)
        config = {k: _from_text(k, v) for k, v in config.items()}
        if "headers" in creds:
            creds["headers"] = _from_text("headers", creds["headers"])
        errors: list[FieldError] = []
        if "url" in config:
            try:
                config["url"] = normalize_url(str(config["url"]))
            except ValidationError as exc:
                errors.extend(exc.errors)
        if "events" in config:
            errors.extend(check_events(config["events"]))
        errors.extend(_check_headers(creds.get("headers")))
        try:
            parse_policy(config)
        except ValidationError as exc:
            errors.extend(exc.errors)
        if "secret" in creds:
            try:
                secret_key(creds["secret"])
            except ValidationError as exc:
                errors.extend(exc.errors)
        else:
            creds["secret"] = new_secret()
            self._generated.add(creds["secret"])
        if errors:
            raise ValidationError(
                "cannot connect webhook: " + "; ".join(e.message for e in errors), errors, provider=PROVIDER
            )
        return creds, config

    async def check(self, ctx: ProviderContext) -> dict[str, Any] | None:
        config = ctx.config
        missing = [k for k in ("url", "events") if not config.get(k)]
        if missing:
            raise ValidationError(
                f"cannot connect webhook: {' and '.join(missing)} required",
                [FieldError(k, "required", f"a webhook endpoint needs {k}") for k in missing],
                provider=PROVIDER,
            )
        await check_url(str(config["url"]), ctx.policy)
        return None

    async def updating(self, hub: Hub, current: Entity, proposed: Entity) -> None:
        await super().updating(hub, current, proposed)
        config = proposed.get("config")
        if not isinstance(config, Mapping) or config == current.get("config"):
            return
        # Only a change of the filters is checked: an endpoint subscribed to an event whose registration
        # this process lacks (its module not imported) can still have its other settings changed.
        if config.get("events") != (current.get("config") or {}).get("events"):
            errors = check_events(config.get("events"), "config.events")
            if errors:
                raise ValidationError(
                    "cannot update webhook: " + "; ".join(e.message for e in errors), errors, provider=PROVIDER
                )
        checked: dict[str, Any] = {}
        if "url" in config:
            try:  # the checks connect runs: the URL's form here, then where it resolves to
                checked["url"] = normalize_url(str(config["url"]))
            except ValidationError as exc:
                raise ValidationError(f"cannot update webhook: {exc.message}", exc.errors, provider=PROVIDER) from None
            if checked["url"] != (current.get("config") or {}).get("url"):
                await _refuse_moving_headers(hub, current)
        merged = {**config, **checked}
        await self.check(ProviderContext(hub, self, proposed, {}, merged))
        proposed["config"] = merged

    def reveal(self, credentials: Mapping[str, Any]) -> dict[str, Any]:
        secret = credentials.get("secret")
        if isinstance(secret, str) and secret in self._generated:
            self._generated.discard(secret)
            return {"secret": secret}
        return {}


async def _refuse_moving_headers(hub: Hub, current: Entity) -> None:
    """Custom headers are credentials (an ``Authorization`` for the receiver): they were entered for
    the endpoint's URL, and an update may not send them elsewhere. As with a provider's
    ``api_base_url``, the URL moves by reconnecting with the headers (or without any)."""
    if not (await load_credentials(hub, current.id)).get("headers"):
        return
    raise ValidationError.single(
        "config.url",
        "reconnect_required",
        f"{current.id} sends custom headers, which are credentials entered for its URL: change the URL by "
        f"reconnecting with the headers (Integration.connect({current.id!r}, url=..., headers=...), "
        f"POST /v1/integrations/{current.id}/connect), not by an update",
        integration_id=current.id,
    )
