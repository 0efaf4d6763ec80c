"""FastAPI dependencies as typed aliases: the service's parts and the caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from soc.api.auth import READ_ROLES, Principal
from soc.app import Service
from soc.bus import Bus
from soc.settings import Settings
from soc.store import Store

_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer <token>`")


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


BusDep = Annotated[Bus, Depends(get_bus)]
StoreDep = Annotated[Store, Depends(get_store)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def get_principal(
    service: ServiceDep,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    principal = service.keys.principal(creds.credentials) if creds else None
    if principal is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing or unknown API key",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require_ingest(principal: PrincipalDep) -> Principal:
    if principal.role != "ingest":
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this route needs an ingest key")
    return principal


def require_reader(principal: PrincipalDep) -> Principal:
    if principal.role not in READ_ROLES:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this route needs a user role")
    return principal


IngestPrincipal = Annotated[Principal, Depends(require_ingest)]
ReaderPrincipal = Annotated[Principal, Depends(require_reader)]
