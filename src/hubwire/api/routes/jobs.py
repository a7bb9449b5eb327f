"""The job queue over HTTP: list, inspect, and retry dead-lettered jobs."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Path, Query, Request

from hubwire.api.auth import hub_of
from hubwire.jobs import queue
from hubwire.jobs.queue import JobRow
from hubwire.net.redact import redact
from hubwire.nouns.values import INT_MAX

__all__ = ["router"]

router = APIRouter(tags=["Job"])
# Job ids are 64-bit: a larger number names no job and is refused before it reaches the database.
# ({id:int} in the paths: /v1/jobs/retry-dead is not a job id but a sibling route.)
JobId = Path(ge=1, le=INT_MAX)


def _job(row: JobRow) -> dict[str, Any]:
    # Payloads are ids and event data, never credentials; redaction is a second line of defence.
    data = row.to_dict()
    data["payload"] = redact(data["payload"])
    return data


@router.get("/v1/jobs", summary="Jobs, newest first")
async def list_jobs(
    request: Request,
    status: Literal["queued", "running", "done", "dead"] | None = Query(None),
    kind: str | None = Query(None),
    limit: int = Query(50, ge=1, le=1000),
    before: int | None = Query(None, ge=1, le=INT_MAX, description="only jobs with a smaller id (the next page)"),
) -> dict[str, Any]:
    rows = await queue.list_jobs(hub_of(request), status=status, kind=kind, limit=limit, after_id=before)
    return {"data": [_job(r) for r in rows], "next_before": rows[-1].id if len(rows) == limit else None}


@router.post("/v1/jobs/retry-dead", summary="Requeue every dead job (of one kind)")
async def retry_dead(request: Request, kind: str | None = Query(None)) -> dict[str, Any]:
    return {"requeued": await queue.retry_dead(hub_of(request), kind=kind)}


@router.get("/v1/jobs/{id:int}", summary="One job")
async def get_job(request: Request, id: int = JobId) -> dict[str, Any]:
    return _job(await queue.get_job(hub_of(request), id))


@router.post("/v1/jobs/{id:int}/retry", summary="Requeue a dead or done job with fresh attempts")
async def retry_job(request: Request, id: int = JobId) -> dict[str, Any]:
    return _job(await queue.retry_job(hub_of(request), id))
