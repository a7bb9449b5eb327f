"""Routes about the service itself: health (open) and the Nouns it serves (authenticated)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from hubwire.api.auth import hub_of
from hubwire.api.problems import problem
from hubwire.net.redact import redact_text
from hubwire.nouns.noun import Noun
from hubwire.nouns.schema import BUILTIN_VERBS

__all__ = ["health_router", "router"]

health_router = APIRouter(tags=["Meta"])
router = APIRouter(tags=["Meta"])


@health_router.get("/healthz", summary="Liveness and database round trip (no authentication)", response_model=None)
async def healthz(request: Request) -> Any:
    try:
        async with hub_of(request).read() as conn:
            await conn.execute(sa.text("SELECT 1"))
    except Exception as exc:  # any database failure makes the service unhealthy, not broken
        return problem(
            503, "unavailable", "Service unavailable", f"database unreachable: {redact_text(str(exc))[:300]}"
        )
    return JSONResponse({"status": "ok"})


@router.get("/v1/nouns", summary="The Nouns this hub serves: fields, verbs, states")
async def list_nouns() -> dict[str, Any]:
    out = []
    for noun in sorted(Noun.registry.values(), key=lambda n: n.name):
        internal = set(getattr(noun, "internal_verbs", ()))
        out.append(
            {
                "name": noun.name,
                "plural": noun.plural,
                "description": noun.description or None,
                "fields": {
                    n: {
                        "type": f.type,
                        "required": f.required,
                        "unique": f.unique,
                        "indexed": f.indexed,
                        "many": f.many,
                        **({"enum": list(f.enum)} if f.enum else {}),
                        **({"target": f.target} if f.target else {}),
                    }
                    for n, f in noun.fields.items()
                },
                "verbs": {v: d.event for v, d in noun.verbs.items() if v not in BUILTIN_VERBS and v not in internal},
                "states": {f: {s: sorted(d) for s, d in m.moves.items()} for f, m in noun.machines.items()},
            }
        )
    return {"data": out}
