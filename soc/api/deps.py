"""FastAPI dependencies as typed aliases: the service's parts and the caller.

The caller sends ``Authorization: Bearer <token>``, where the token is an API
key of the settings or a session token from ``POST /api/v1/auth/token``.
Routes ask for a permission, not a role, and narrow their query with
:func:`soc.security.roles.scope`::

    from soc.api.deps import Allowed
    from soc.security.roles import scope

    @router.get("/incidents")
    async def list_incidents(
        principal: Annotated[Principal, Depends(Allowed("incidents:read"))], ...
    ) -> IncidentPage:
        tenants = scope(principal, "incidents:read", tenant)  # None: all

A refused credential answers 401 and a refused permission 403, as problem
documents (:mod:`soc.api.errors`). ``GET /api/v1/stream`` (EventSource sends
no headers) takes :data:`StreamPrincipal`, which also accepts a session
token as ``?access_token=``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from soc.api.errors import ApiError
from soc.api.feed import Feed
from soc.app import Service
from soc.bus import Bus
from soc.security.principal import Principal
from soc.security.roles import Action, scope
from soc.security.tokens import TokenClaims
from soc.settings import Settings
from soc.store import Store

_bearer = HTTPBearer(
    auto_error=False,
    description="A session token from `POST /api/v1/auth/token`, or an API key",
)


def get_service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


ServiceDep = Annotated[Service, Depends(get_service)]


def get_bus(service: ServiceDep) -> Bus:
    return service.bus


def get_store(service: ServiceDep) -> Store:
    return service.store


def get_settings(service: ServiceDep) -> Settings:
    return service.settings


def get_feed(request: Request) -> Feed:
    feed: Feed = request.app.state.feed
    return feed


FeedDep = Annotated[Feed, Depends(get_feed)]


def client_ip(request: Request) -> str:
    """The peer's address (uvicorn applies X-Forwarded-For from trusted proxies only)."""
    return request.client.host if request.client else "unknown"


BusDep = Annotated[Bus, Depends(get_bus)]
StoreDep = Annotated[Store, Depends(get_store)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
ClientIpDep = Annotated[str, Depends(client_ip)]


@dataclass(frozen=True)
class Credentials:
    """Who is calling, and their session when they came with a session token."""

    principal: Principal
    session: TokenClaims | None = None


def _unauthorized(detail: str) -> ApiError:
    return ApiError(401, "unauthorized", detail, headers={"WWW-Authenticate": "Bearer"})


def authenticate(service: Service, token: str, *, keys: bool = True) -> Credentials:
    """The credentials a bearer token stands for; raises 401 (a TokenError or ApiError).

    An API key is looked up by its hash; anything shaped like a JWT is verified
    as a session token (signature, expiry, revocation).
    """
    if keys:
        principal = service.keys.principal(token)
        if principal is not None:
            return Credentials(principal)
    if token.count(".") == 2:
        claims = service.tokens.verify(token)
        return Credentials(claims.principal(), claims)
    raise _unauthorized("unknown API key or access token" if keys else "not a session token")


def get_credentials(
    service: ServiceDep,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Credentials:
    if creds is None or not creds.credentials:
        raise _unauthorized("missing credentials: send Authorization: Bearer <token>")
    return authenticate(service, creds.credentials)


CredentialsDep = Annotated[Credentials, Depends(get_credentials)]


def get_principal(credentials: CredentialsDep) -> Principal:
    return credentials.principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def get_session(credentials: CredentialsDep) -> TokenClaims:
    """The caller's session; an API key has none (400)."""
    if credentials.session is None:
        raise ApiError(400, "invalid_request", "this needs a session token, not an API key")
    return credentials.session


SessionDep = Annotated[TokenClaims, Depends(get_session)]


def get_stream_principal(
    service: ServiceDep,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    access_token: Annotated[
        str | None,
        Query(
            max_length=8192,
            description="A session token, for EventSource, which cannot send headers "
            "(API keys only in the header: they never go into URLs)",
        ),
    ] = None,
) -> Principal:
    if creds is not None and creds.credentials:
        return authenticate(service, creds.credentials).principal
    if access_token:
        return authenticate(service, access_token, keys=False).principal
    raise _unauthorized("missing credentials: send Authorization: Bearer or ?access_token=")


StreamPrincipal = Annotated[Principal, Depends(get_stream_principal)]


class Allowed:
    """A dependency answering the caller when their role may do ``action``, else 403.

    It also refuses a principal holding ``*`` whose role may not (a misconfigured
    key); the route still narrows its query with ``scope(principal, action, ...)``.
    """

    def __init__(self, action: Action) -> None:
        self.action = action

    def __call__(self, principal: PrincipalDep) -> Principal:
        scope(principal, self.action)
        return principal

    def __repr__(self) -> str:
        return f"Allowed({self.action!r})"


AlertReader = Annotated[Principal, Depends(Allowed("alerts:read"))]
AlertTriager = Annotated[Principal, Depends(Allowed("alerts:triage"))]
IngestPrincipal = Annotated[Principal, Depends(Allowed("ingest:write"))]
UserAdmin = Annotated[Principal, Depends(Allowed("users:manage"))]
