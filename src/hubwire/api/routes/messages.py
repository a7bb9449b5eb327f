"""Sending messages over REST: ``POST /v1/messages/send`` and ``POST /v1/emailmessages/send``.

The body is what ``Message.send`` / ``EmailMessage.send`` take (``via``, ``channel``, ``to``,
``text``, ``blocks``; ``to``, ``subject``, ``html``); the answer is the queued entity (202): a
worker sends it, and its ``status`` says how that went. The generic ``POST /v1/messages`` is
refused (a Message is made by sending it).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from hubwire.api.routes.body import json_body_doc, json_object
from hubwire.api.routes.nouns import entity_response
from hubwire.connectors.messaging.messages import EmailMessage, Message, MessageNoun
from hubwire.errors import ValidationError
from hubwire.nouns.schema import camel_to_snake

__all__ = ["router"]

router = APIRouter(tags=["Message"])


class SendBody(BaseModel):
    """``via`` (a provider or an Integration id) and the message's fields."""

    model_config = ConfigDict(extra="allow")
    via: str | None = None


async def _send(noun: MessageNoun, request: Request) -> JSONResponse:
    body = await json_object(request)
    via = body.pop("via", None)
    if via is not None and not isinstance(via, str):
        raise ValidationError.single("via", "type", "via must be a provider or an integration id")
    fields: dict[str, Any] = {camel_to_snake(k): v for k, v in body.items()}
    return entity_response(await noun.send(via=via, **fields), 202)


@router.post(
    "/v1/messages/send",
    summary="Send a chat message or SMS (queued; its status follows)",
    status_code=202,
    response_model=None,
    openapi_extra=json_body_doc(SendBody),
)
async def send_message(request: Request) -> JSONResponse:
    return await _send(Message, request)


@router.post(
    "/v1/emailmessages/send",
    summary="Send a mail (queued; its status follows)",
    status_code=202,
    response_model=None,
    openapi_extra=json_body_doc(SendBody),
)
async def send_email(request: Request) -> JSONResponse:
    return await _send(EmailMessage, request)
