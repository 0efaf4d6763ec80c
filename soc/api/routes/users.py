"""Accounts, for admins (docs/specs/api.md, "Users").

An admin manages the accounts whose tenants all lie within their own (an admin
of ``*``: every account) and cannot grant ``*`` otherwise
(:func:`soc.security.roles.may_manage`). An account outside that answers 404,
as a missing one does. Changing an account's role, tenants or unit, disabling
it or setting its password ends its sessions (``revoke_subject``), so the
change applies at once rather than at the token's expiry. Every change goes
into the audit trail, never with a password hash.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from soc.api.deps import ClientIpDep, CredentialsDep, ServiceDep, UserAdmin
from soc.api.errors import ApiError, FieldError, RateLimited, problems
from soc.app import Service
from soc.models import utcnow
from soc.security.passwords import require_strong
from soc.security.principal import Principal
from soc.security.roles import Forbidden, UserRole, can, may_manage
from soc.security.users import User, UserRead, normalize_username
from soc.store.records import decode_after, encode_after

router = APIRouter(prefix="/api/v1/users", tags=["users"], responses=problems(401, 403, 404, 422))

MAX_PASSWORD_INPUT = 4096
"""Longer input is refused before the policy (whose limit is 1024) is asked."""
ACCESS_FIELDS = ("role", "tenants", "unit", "disabled")
"""A change to any of these ends the account's sessions."""

Username = Annotated[str, Path(min_length=1, max_length=64, description="The account's name")]


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=64)
    display_name: str = Field(min_length=1, max_length=200)
    role: UserRole
    tenants: list[str] = Field(min_length=1, max_length=100)
    unit: str | None = Field(None, max_length=100)
    """The responding unit (e.g. ``CAT-PCTP``); required for responders."""
    password: str = Field(max_length=MAX_PASSWORD_INPUT)


class UserUpdate(BaseModel):
    """Only the fields given change; ``unit: null`` removes the unit."""

    model_config = ConfigDict(extra="forbid")

    display_name: str | None = Field(None, min_length=1, max_length=200)
    role: UserRole | None = None
    tenants: list[str] | None = Field(None, min_length=1, max_length=100)
    unit: str | None = Field(None, max_length=100)
    disabled: bool | None = None


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: str = Field(max_length=MAX_PASSWORD_INPUT)
    current_password: str | None = Field(None, max_length=MAX_PASSWORD_INPUT)
    """Required when changing one's own password."""


class UserPage(BaseModel):
    items: list[UserRead]
    next_cursor: str | None = None


def _not_found() -> ApiError:
    return ApiError(404, "not_found", "no such user")


def _validated(fields: dict[str, Any]) -> User:
    """The account these fields make, or 422 with the model's reasons (as request errors)."""
    try:
        return User.model_validate(fields)
    except ValidationError as e:
        raise RequestValidationError(
            [{**err, "loc": ("body", *err["loc"])} for err in e.errors(include_input=False)]
        ) from e


def _public(user: User) -> dict[str, Any]:
    return user.public().model_dump(mode="json")


async def _end_sessions(service: Service, username: str) -> None:
    service.revocations.revoke_subject(username, before=utcnow())
    await service.revocations.flush()


@router.get("", response_model=UserPage, summary="The accounts the caller manages, by username")
async def list_users(
    principal: UserAdmin,
    service: ServiceDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[
        str | None, Query(max_length=512, description="`next_cursor` of the page before")
    ] = None,
) -> UserPage:
    after = decode_after(cursor)
    users = [
        u
        for u in await service.users.list()
        if may_manage(principal, tenants=u.tenants) and (after is None or u.username > after[1])
    ]
    page = users[:limit]
    more = len(users) > limit
    return UserPage(
        items=[u.public() for u in page],
        next_cursor=encode_after((0, page[-1].username)) if more else None,
    )


@router.post(
    "",
    status_code=201,
    response_model=UserRead,
    summary="Create an account",
    responses=problems(409),
)
async def create_user(body: UserCreate, principal: UserAdmin, service: ServiceDep) -> UserRead:
    name = normalize_username(body.username)
    if not may_manage(principal, tenants=body.tenants):
        raise Forbidden("an admin creates accounts only within their own tenants, never '*'")
    if name in service.keys.names:
        raise ApiError(409, "conflict", f"an API key is named {name!r}; choose another username")
    fields = body.model_dump(exclude={"password"})
    user = _validated({**fields, "username": name, "created": utcnow(), "password_hash": "-"})
    require_strong(body.password, username=name)
    user = user.model_copy(
        update={"password_hash": await service.hashing.hash_async(body.password)}
    )
    await service.users.create(user)
    await service.audit.append(
        actor=principal.name,
        tenant=None,
        action="user.create",
        target=f"user:{name}",
        after=_public(user),
    )
    return user.public()


@router.patch(
    "/{username}",
    response_model=UserRead,
    summary="Change an account; a change of access ends its sessions",
)
async def update_user(
    username: Username, body: UserUpdate, principal: UserAdmin, service: ServiceDep
) -> UserRead:
    name = normalize_username(username)
    changes = body.model_dump(exclude_unset=True)
    if "tenants" in changes and not may_manage(principal, tenants=changes["tenants"] or []):
        raise Forbidden("an admin grants only their own tenants, never '*'")
    if name == principal.name and (
        changes.get("disabled") or changes.get("role", "admin") != "admin"
    ):
        raise Forbidden("an admin cannot disable or demote their own account")
    before: User | None = None

    def change(user: User) -> User:
        nonlocal before
        if not may_manage(principal, tenants=user.tenants):
            raise _not_found()
        before = user
        return _validated({**user.model_dump(), **changes})

    current = await service.users.get(name)
    if current is None or not may_manage(principal, tenants=current.tenants):
        raise _not_found()
    updated = await service.users.update(name, change)
    assert before is not None
    if any(getattr(before, f) != getattr(updated, f) for f in ACCESS_FIELDS):
        await _end_sessions(service, name)
    await service.audit.append(
        actor=principal.name,
        tenant=None,
        action="user.update",
        target=f"user:{name}",
        before=_public(before),
        after=_public(updated),
    )
    return updated.public()


def _may_set_password(principal: Principal, target: User | None) -> bool:
    return (
        target is not None
        and can(principal, "users:manage")
        and may_manage(principal, tenants=target.tenants)
    )


@router.post(
    "/{username}/password",
    status_code=204,
    response_class=Response,
    summary="Set an account's password (an admin), or change one's own; ends its sessions",
    responses=problems(429),
)
async def set_password(
    username: Username,
    body: PasswordChange,
    credentials: CredentialsDep,
    service: ServiceDep,
    ip: ClientIpDep,
) -> Response:
    principal = credentials.principal
    name = normalize_username(username)
    own = credentials.session is not None and credentials.session.sub == name
    if not own and not can(principal, "users:manage"):
        raise Forbidden("only an admin, or the account's owner, may set its password")
    target = await service.users.get(name)
    if target is None or not (own or _may_set_password(principal, target)):
        raise _not_found()
    if own:
        # Whoever holds the session must still know the password: a stolen token is not enough.
        decision = await service.login_guard.check(name, ip)
        if not decision.allowed:
            raise RateLimited(decision, "too many attempts; try again later")
        current = body.current_password or ""
        if not await service.hashing.verify_async(target.password_hash, current):
            await service.login_guard.failed(name, ip)
            raise ApiError(
                422,
                "invalid_request",
                "the current password is wrong",
                errors=[
                    FieldError(
                        loc=["body", "current_password"],
                        msg="The current password is wrong.",
                        type="wrong_password",
                    )
                ],
            )
    require_strong(body.password, username=name)
    await service.users.set_password(name, await service.hashing.hash_async(body.password))
    await _end_sessions(service, name)
    await service.audit.append(
        actor=principal.name, tenant=None, action="user.password", target=f"user:{name}"
    )
    return Response(status_code=204)
