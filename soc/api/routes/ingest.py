"""POST /api/v1/ingest: NDJSON in, one event per line.

Each ingest key has a token bucket counted in lines (``auth.ingest_rate``): a
batch over the rate is refused whole with 429 and ``Retry-After``, which the
connectors honour, resending the same batch later.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from soc.api.deps import BusDep, IngestPrincipal, ServiceDep, SettingsDep
from soc.api.errors import ApiError, RateLimited, problems
from soc.models import IngestResult
from soc.stages.ingest import ingest_ndjson

router = APIRouter(
    prefix="/api/v1", tags=["ingest"], responses=problems(401, 403, 413, 422, 429, 503)
)

EXAMPLE = (
    '{"Channel":"Microsoft-Windows-Sysmon/Operational","EventID":10,'
    '"Hostname":"WS01","TargetImage":"C:\\\\Windows\\\\system32\\\\lsass.exe",'
    '"@timestamp":"2026-11-24T02:00:00Z"}\n'
    '{"record":{"msg":"sshd: Failed password for root"},"host":"web01",'
    '"logsource":{"product":"linux","service":"sshd"}}\n'
)


@router.post(
    "/ingest",
    response_model=IngestResult,
    summary="Send events as NDJSON, one JSON object per line",
    description=(
        "Each line is either a bare record, or an envelope "
        '`{"record": {...}, "source", "host", "time", "logsource"}` saying what the sender '
        "knows of it. The tenant is the ingest key's, never the record's. Good lines are "
        "put on the bus; bad lines go to dead letters with their line number and reason, "
        "and the answer lists them. One bad line never loses the others."
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/x-ndjson": {"schema": {"type": "string"}, "example": EXAMPLE}},
        }
    },
)
async def ingest(
    request: Request,
    principal: IngestPrincipal,
    bus: BusDep,
    settings: SettingsDep,
    service: ServiceDep,
    source: Annotated[
        str,
        Query(
            max_length=200,
            pattern=r"^[\w.:/@-]+$",
            description="Where the records come from, e.g. `winlog:dc01`",
        ),
    ] = "http",
) -> IngestResult:
    limit = settings.ingest.max_body_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, "payload_too_large", f"body is over {limit} bytes; split it")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "payload_too_large", f"body is over {limit} bytes; split it")
        chunks.append(chunk)
    body = b"".join(chunks)
    if service.ingest_limiter is not None:
        lines = body.count(b"\n") + (0 if body.endswith(b"\n") or not body else 1)
        decision = await service.ingest_limiter.hit(principal.name, cost=max(lines, 1))
        if not decision.allowed:
            raise RateLimited(
                decision,
                f"this key is over its ingest rate; resend the batch in "
                f"{decision.retry_after_header} s",
            )
    return await ingest_ndjson(
        body,
        tenant=principal.tenants[0],
        source=source,
        bus=bus,
        settings=settings.ingest,
    )
