"""Every error answer as an RFC 9457 problem document (``application/problem+json``).

    {"type": "about:blank", "title": "Not Found", "status": 404,
     "code": "not_found", "detail": "no such incident"}

``code`` is stable and machine-readable (docs/specs/api.md). Where each comes from:

    raised                                  status  code
    HTTPException (routes, FastAPI itself)  its own by status (ApiError: its own code)
    RequestValidationError, WeakPassword    422     invalid_request (+ errors: [{loc, msg}])
    InvalidOperation (incidents)            422     invalid_request
    IntelFormatError (soc.intel.parse)      422     invalid_request
    QueryError                              400     invalid_request
    QuerySyntaxError (event queries)        400     invalid_request (+ column, reason)
    TokenError                              401     unauthorized   (WWW-Authenticate: Bearer)
    Forbidden and any other AuthError       403     forbidden
    UserNotFound                            404     not_found
    Conflict, UserExists                    409     conflict
    InvalidTransition (incidents)           409     invalid_transition
    RateLimited                             429     rate_limited   (Retry-After)
    BackendError                            503     unavailable    (Retry-After: 5)
    anything else                           500     internal

:func:`install` adds the handlers to an app and documents the schema in its
OpenAPI: a ``Problem`` component, ``default`` answers of every ``/api/``
operation, and FastAPI's own 422 replaced. Routers add examples per status
with ``responses=problems(401, 403, ...)``. Request values are never echoed
back in ``errors`` (they may hold a password).
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException
from starlette.responses import Response

from soc.errors import (
    AuthError,
    BackendError,
    Conflict,
    IntelFormatError,
    NotFound,
    QueryError,
    SocError,
)
from soc.incidents.errors import InvalidOperation, InvalidTransition
from soc.log import get_logger
from soc.security.passwords import WeakPassword
from soc.security.ratelimit import Decision
from soc.security.tokens import TokenError
from soc.security.users import UserExists, UserNotFound
from soc.store.eventquery import QuerySyntaxError

log = get_logger(__name__)

MEDIA_TYPE = "application/problem+json"
BACKEND_RETRY_AFTER_S = 5

CODES: Mapping[int, str] = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    409: "conflict",
    413: "payload_too_large",
    422: "invalid_request",
    429: "rate_limited",
    500: "internal",
    503: "unavailable",
}
"""The code of each status, unless the error names its own."""


class FieldError(BaseModel):
    loc: list[str | int]
    """Where: ``["body", "password"]``, ``["query", "limit"]``."""
    msg: str
    type: str | None = None
    """A stable reason, e.g. ``too_short`` or pydantic's ``missing``."""


class Problem(BaseModel):
    """An RFC 9457 problem document, with a stable ``code``."""

    model_config = ConfigDict(extra="allow")

    type: str = "about:blank"
    title: str
    status: int = Field(ge=400, le=599)
    code: str
    """unauthorized, forbidden, not_found, invalid_request, conflict, invalid_transition,
    rate_limited, payload_too_large, unavailable, internal..."""
    detail: str
    errors: list[FieldError] | None = None
    """With invalid_request: each refused value."""
    column: int | None = None
    """With a malformed event query: the 1-based column it goes wrong at."""
    reason: str | None = None
    """With a malformed event query: what is wrong, without the column."""


class ApiError(SocError, HTTPException):
    """An HTTPException with its own ``code`` (e.g. ``invalid_transition``)."""

    def __init__(
        self,
        status_code: int,
        code: str,
        detail: str,
        *,
        headers: Mapping[str, str] | None = None,
        errors: Sequence[FieldError] | None = None,
    ) -> None:
        super().__init__(status_code, detail, headers=dict(headers) if headers else None)
        self.code = code
        self.errors = list(errors) if errors is not None else None


class RateLimited(ApiError):
    """429 with ``Retry-After`` from a refusing :class:`~soc.security.ratelimit.Decision`."""

    def __init__(self, decision: Decision, detail: str) -> None:
        super().__init__(
            429,
            "rate_limited",
            detail,
            headers={"Retry-After": decision.retry_after_header},
        )


def code_of(status: int) -> str:
    if status in CODES:
        return CODES[status]
    try:
        return re.sub(r"\W+", "_", HTTPStatus(status).phrase.lower()).strip("_")
    except ValueError:
        return "error"


def title_of(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def problem_response(
    status: int,
    detail: str,
    *,
    code: str | None = None,
    errors: Sequence[FieldError] | None = None,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> JSONResponse:
    body = Problem(
        title=title_of(status),
        status=status,
        code=code or code_of(status),
        detail=detail,
        errors=list(errors) if errors is not None else None,
        **(extra or {}),
    )
    out = dict(headers or {})
    if status == 401:
        out.setdefault("WWW-Authenticate", "Bearer")
    return JSONResponse(
        body.model_dump(mode="json", exclude_none=True),
        status_code=status,
        headers=out,
        media_type=MEDIA_TYPE,
    )


def _field_errors(raw: Sequence[Any]) -> list[FieldError]:
    return [
        FieldError(
            loc=[p if isinstance(p, int) else str(p) for p in e.get("loc", ())],
            msg=str(e.get("msg", "")),
            type=e.get("type"),
        )
        for e in raw
    ]


async def _http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail, default=str)
    return problem_response(
        exc.status_code,
        detail,
        code=getattr(exc, "code", None),
        errors=getattr(exc, "errors", None),
        headers=exc.headers,
    )


async def _validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = _field_errors(exc.errors())
    where = ", ".join(".".join(str(p) for p in e.loc) for e in errors[:5])
    return problem_response(422, f"the request is not valid: {where}", errors=errors)


async def _weak_password(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, WeakPassword)
    errors = [
        FieldError(loc=["body", "password"], msg=p.message, type=p.code) for p in exc.problems
    ]
    return problem_response(422, str(exc), errors=errors)


async def _invalid_operation(request: Request, exc: Exception) -> Response:
    return problem_response(422, str(exc), errors=[FieldError(loc=["body"], msg=str(exc))])


async def _intel_format(request: Request, exc: Exception) -> Response:
    return problem_response(422, str(exc), errors=[FieldError(loc=["body"], msg=str(exc))])


async def _query(request: Request, exc: Exception) -> Response:
    return problem_response(400, str(exc))


async def _query_syntax(request: Request, exc: Exception) -> Response:
    """Where the query went wrong, so a query box can point at the column (1-based)."""
    assert isinstance(exc, QuerySyntaxError)
    return problem_response(
        400,
        str(exc),
        extra={"column": exc.column, "reason": exc.reason},
    )


async def _auth(request: Request, exc: Exception) -> Response:
    status = 401 if isinstance(exc, TokenError) else 403
    return problem_response(status, str(exc))


async def _not_found(request: Request, exc: Exception) -> Response:
    return problem_response(404, str(exc))


async def _conflict(request: Request, exc: Exception) -> Response:
    return problem_response(409, str(exc) or "the record changed since it was read")


async def _invalid_transition(request: Request, exc: Exception) -> Response:
    return problem_response(409, str(exc), code="invalid_transition")


async def _backend(request: Request, exc: Exception) -> Response:
    # The request did not complete: the sender keeps its data and resends it whole;
    # event ids are stable, so a resent event is stored once.
    log.warning("request failed on a backend", extra={"path": request.url.path, "error": str(exc)})
    return problem_response(
        503,
        "a backend is unavailable; the request did not complete, resend it",
        headers={"Retry-After": str(BACKEND_RETRY_AFTER_S)},
    )


async def _internal(request: Request, exc: Exception) -> Response:
    return problem_response(500, "the server failed; the error is logged")


Handler = Callable[[Request, Exception], Awaitable[Response]]
HANDLERS: tuple[tuple[type[Exception], Handler], ...] = (
    (HTTPException, _http),
    (RequestValidationError, _validation),
    (WeakPassword, _weak_password),
    (InvalidOperation, _invalid_operation),
    (IntelFormatError, _intel_format),
    (QuerySyntaxError, _query_syntax),
    (QueryError, _query),
    (AuthError, _auth),
    (UserNotFound, _not_found),
    (NotFound, _not_found),
    (Conflict, _conflict),
    (UserExists, _conflict),
    (InvalidTransition, _invalid_transition),
    (BackendError, _backend),
    (Exception, _internal),
)


# OpenAPI

PROBLEM_REF = "#/components/schemas/Problem"
EXAMPLES: Mapping[int, tuple[str, str]] = {
    400: ("invalid_request", "invalid cursor: 'bm9wZQ'"),
    401: ("unauthorized", "the access token has expired; sign in again"),
    403: ("forbidden", "the role 'responder' may not do 'alerts:read'"),
    404: ("not_found", "no such alert"),
    409: ("conflict", "incident 7f3a... is at version 4, not 3"),
    413: ("payload_too_large", "body is over 67108864 bytes; split it"),
    422: ("invalid_request", "the request is not valid: body.password"),
    429: ("rate_limited", "too many sign-in attempts; retry later"),
    503: ("unavailable", "a backend is unavailable; the request did not complete, resend it"),
}
DESCRIPTIONS: Mapping[int, str] = {
    400: "The query was refused (e.g. a cursor this service did not make)",
    401: "No credential, or an unknown key, or an invalid, expired or ended session",
    403: "The caller's role or tenants do not allow this",
    404: "No such record among the caller's tenants",
    409: "The record changed since it was read: reload and retry",
    413: "The body is too large",
    422: "A value was refused; `errors` lists each",
    429: "Too many requests: wait `Retry-After` seconds",
    503: "A backend is unavailable: retry after `Retry-After` seconds",
}
_RETRY_AFTER = {
    "Retry-After": {"description": "Seconds to wait before retrying", "schema": {"type": "integer"}}
}


def _example(status: int) -> dict[str, Any]:
    code, detail = EXAMPLES.get(status, (code_of(status), title_of(status)))
    example: dict[str, Any] = {
        "type": "about:blank",
        "title": title_of(status),
        "status": status,
        "code": code,
        "detail": detail,
    }
    if status == 422:
        example["errors"] = [
            {
                "loc": ["body", "password"],
                "msg": "The password must be at least 12 characters.",
                "type": "too_short",
            }
        ]
    return example


def problem_content(status: int) -> dict[str, Any]:
    return {MEDIA_TYPE: {"schema": {"$ref": PROBLEM_REF}, "example": _example(status)}}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a router or route: these statuses, each a Problem with an example."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        doc: dict[str, Any] = {
            "description": DESCRIPTIONS.get(status, title_of(status)),
            "content": problem_content(status),
        }
        if status in (429, 503):
            doc["headers"] = _RETRY_AFTER
        out[status] = doc
    return out


def _document(schema: dict[str, Any]) -> None:
    """Problem in the components; ``default``, 422 and bare 4xx/5xx of ``/api/`` operations."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    definition = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(definition.pop("$defs", {}))
    components["Problem"] = definition
    for path, operations in schema.get("paths", {}).items():
        for operation in operations.values():
            responses = operation.get("responses", {})
            for status, answer in responses.items():
                ref = json.dumps(answer.get("content", {}))
                if status == "422" and "HTTPValidationError" in ref:
                    answer["description"] = DESCRIPTIONS[422]
                    answer["content"] = problem_content(422)
                elif status[0] in "45" and "content" not in answer and path.startswith("/api/"):
                    answer["content"] = {MEDIA_TYPE: {"schema": {"$ref": PROBLEM_REF}}}
            if path.startswith("/api/"):
                responses.setdefault(
                    "default",
                    {
                        "description": "Any error: an RFC 9457 problem document",
                        "content": {MEDIA_TYPE: {"schema": {"$ref": PROBLEM_REF}}},
                    },
                )
    if "HTTPValidationError" not in json.dumps(schema.get("paths", {})):
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)


def install(app: FastAPI) -> None:
    """Answer every error with a problem document, and say so in the OpenAPI schema."""
    for exc_class, handler in HANDLERS:
        app.add_exception_handler(exc_class, handler)
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            _document(generate())
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]
