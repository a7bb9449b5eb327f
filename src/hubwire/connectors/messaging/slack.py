"""Slack: an incoming webhook (``webhook=URL``, the seed's form) or a bot token (``token=xoxb-...``).

    await Integration.connect(provider="slack", webhook="https://hooks.slack.com/services/T/B/x")
    await Integration.connect(provider="slack", token="xoxb-...", channel="#orders")

The webhook URL is a secret (whoever has it can post): stored encrypted, checked by the SSRF guard
at connect. A token is checked with ``auth.test`` (its team and bot are kept in the config); a
message goes through ``chat.postMessage`` (``channel``, ``text``, ``blocks``), JSON with the token
as ``Authorization: Bearer``. Slack answers errors as ``{"ok": false, "error": "..."}`` with a 200:
those that retrying cannot fix (``channel_not_found``, ``invalid_auth``, ``invalid_blocks``...) kill
the delivery at once, the others (and 5xx) are retried; a 429 waits its ``Retry-After``. Interpolated
template values are escaped as Slack asks (``&``, ``<``, ``>``), so data cannot mention ``@channel``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from hubwire.connectors.messaging.base import MessagingProvider, Outgoing, answer_json, register_destination
from hubwire.connectors.registry import ProviderContext, provider
from hubwire.errors import (
    FieldError,
    ProviderAuthError,
    ProviderError,
    ProviderInvalidRequest,
    ProviderNotFound,
    ProviderRateLimited,
    ProviderUnavailable,
    ValidationError,
)
from hubwire.net.http import http_client
from hubwire.net.ssrf import check_url, normalize_url
from hubwire.webhooks.destinations import Sent

if TYPE_CHECKING:
    from hubwire.webhooks.delivery import Deliverer
    from hubwire.webhooks.endpoints import Endpoint

__all__ = ["PERMANENT", "SlackProvider", "slack_error"]

# ok:false errors that a retry cannot fix (https://api.slack.com/methods/chat.postMessage#errors).
PERMANENT = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "no_permission",
        "missing_scope",
        "not_allowed_token_type",
        "channel_not_found",
        "is_archived",
        "not_in_channel",
        "restricted_action",
        "msg_too_long",
        "no_text",
        "invalid_blocks",
        "invalid_blocks_format",
        "invalid_arguments",
        "invalid_payload",
        "invalid_token",
        "channel_is_archived",
        "too_many_attachments",
    }
)
_AUTH = frozenset({"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired", "invalid_token"})
_NOT_FOUND = frozenset({"channel_not_found", "is_archived", "not_in_channel", "channel_is_archived"})


def slack_error(error: str, status: int = 200, **where: Any) -> ProviderError:
    """Slack's error code as Hubwire's typed error (what ``auth.test`` and the REST API show)."""
    message = f"Slack refused: {error}"
    if error in _AUTH:
        return ProviderAuthError(message, provider="slack", provider_status=status, slack_error=error, **where)
    if error in _NOT_FOUND:
        return ProviderNotFound(message, provider="slack", provider_status=status, slack_error=error, **where)
    if error in ("ratelimited", "rate_limited"):
        return ProviderRateLimited(message, provider="slack", provider_status=status, slack_error=error, **where)
    if error in PERMANENT:
        return ProviderInvalidRequest(message, provider="slack", provider_status=status, slack_error=error, **where)
    return ProviderUnavailable(message, provider="slack", provider_status=status, slack_error=error, **where)


@register_destination
@provider
class SlackProvider(MessagingProvider):
    slug = "slack"
    name = "Slack"
    description = "Messages to Slack channels: incoming webhook or bot token (chat.postMessage)."
    provider_url = "https://slack.com"
    api_base_url = "https://slack.com/api"
    auth_type = "ApiKey"
    escaping = "slack"
    default_rate_limit = 1.0
    credential_fields: ClassVar[tuple[str, ...]] = ("webhook", "token")
    config_fields: ClassVar[tuple[str, ...]] = ("channel",)

    def validate(self, creds: Mapping[str, Any], config: Mapping[str, Any]) -> list[FieldError]:
        if bool(creds.get("webhook")) == bool(creds.get("token")):
            return [FieldError("webhook", "required", "slack needs either webhook=<incoming webhook URL> or token=")]
        if creds.get("webhook"):
            try:
                normalize_url(str(creds["webhook"]))
            except ValidationError as exc:
                return [FieldError("webhook", e.code, e.message) for e in exc.errors]
        elif config.get("events") and not config.get("channel"):
            return [FieldError("channel", "required", "a bot token routing events needs channel=")]
        return []

    async def check(self, ctx: ProviderContext) -> dict[str, Any] | None:
        webhook = ctx.credentials.get("webhook")
        if webhook:
            await check_url(str(webhook), ctx.policy, field="webhook")
            return None
        await check_url(ctx.base_url, ctx.policy, field="api_base_url")
        token = str(ctx.credentials["token"])
        resp = await http_client(ctx.hub).request(
            "POST",
            f"{ctx.base_url}/auth.test",
            headers={"Authorization": f"Bearer {token}"},
            secrets=(token,),
            provider=self.slug,
        )
        body = resp.json() if resp.content else {}
        if not isinstance(body, Mapping) or not body.get("ok"):
            error = str(body.get("error") if isinstance(body, Mapping) else "") or "invalid_response"
            raise slack_error(error, resp.status_code)
        return {k: body[k] for k in ("team", "team_id", "user_id", "bot_id", "url") if k in body}

    def check_message(self, noun: str, fields: Mapping[str, Any], config: Mapping[str, Any]) -> list[FieldError]:
        errors = []
        if not fields.get("text") and not fields.get("blocks"):
            errors.append(FieldError("text", "required", "a Slack message needs text or blocks"))
        if fields.get("blocks") is not None and not isinstance(fields.get("blocks"), list):
            errors.append(FieldError("blocks", "invalid", "blocks must be a list of Block Kit blocks"))
        return errors

    async def transmit(self, deliverer: Deliverer, endpoint: Endpoint, delivery_id: str, out: Outgoing) -> Sent:
        body: dict[str, Any] = {"text": out.text or ""}
        if out.blocks:
            body["blocks"] = out.blocks
        webhook = endpoint.credentials.get("webhook")
        if webhook:
            code, text, error, headers = await deliverer.request(
                endpoint, str(webhook), json.dumps(body).encode(), {"content-type": "application/json"}
            )
            if error is not None or code is None:
                return Sent(code, text, error, headers)
            said = (text or "").strip()
            if code == 200:
                return Sent(code, text)
            # Incoming webhooks answer errors in plain text: invalid_payload, channel_not_found...
            return Sent(code, text, f"Slack refused: {said or code}", headers, permanent=said in PERMANENT)
        if not out.channel:
            return Sent(None, None, "Slack refused: no channel for chat.postMessage", permanent=True)
        body["channel"] = out.channel
        token = str(endpoint.credentials.get("token") or "")
        base = (endpoint.api_base_url or self.api_base_url or "").rstrip("/")
        code, text, error, headers = await deliverer.request(
            endpoint,
            f"{base}/chat.postMessage",
            json.dumps(body).encode(),
            {"content-type": "application/json; charset=utf-8", "authorization": f"Bearer {token}"},
        )
        if error is not None or code is None:
            return Sent(code, text, error, headers)
        answer = answer_json(text)
        if code == 200 and isinstance(answer, Mapping) and answer.get("ok"):
            return Sent(code, text, provider_id=str(answer.get("ts") or "") or None)
        slack = str(answer.get("error") if isinstance(answer, Mapping) else "") or f"HTTP {code}"
        return Sent(code, text, f"Slack refused: {slack}", headers, permanent=slack in PERMANENT)
