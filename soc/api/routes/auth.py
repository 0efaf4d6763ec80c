"""Sign-in, sign-out and "who am I": session tokens for people (docs/specs/api.md).

``POST /auth/token`` puts the sign-in limits first (:class:`LoginGuard`: a
bucket per client address, one per username and address, and a lockout after
repeated failures), then checks the password. An unknown user, a disabled one
and a wrong password get the same answer after the same work. Every sign-in,
failure, lockout and sign-out goes into the audit trail; attempts refused by
the rate limit only into the log, so a flood cannot grow the trail.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Response
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel

from soc.api.deps import ClientIpDep, CredentialsDep, ServiceDep, SessionDep
from soc.api.errors import ApiError, RateLimited, problems
from soc.log import get_logger
from soc.models import utcnow
from soc.security.passwords import MAX_LENGTH
from soc.security.principal import Principal
from soc.security.ratelimit import Decision
from soc.security.roles import PERMISSIONS, Action, UserPrincipal
from soc.security.users import authenticate, normalize_username
from soc.settings import Role

log = get_logger(__name__)

router = APIRouter(prefix="/api/v1/auth", tags=["auth"], responses=problems(401))

MAX_AUDITED_NAME = 64
"""A claimed username is cut to this in the audit trail (usernames are at most 64)."""


class Me(BaseModel):
    """The caller as the UI needs it: who, which role and tenants, and what they may do."""

    name: str
    display_name: str | None = None
    role: Role
    tenants: list[str]
    unit: str | None = None
    permissions: list[Action]


class TokenResponse(BaseModel):
    """The OAuth2 token response (RFC 6749 §5.1), with the expiry and the signed-in user."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_at: datetime
    expires_in: int
    """Seconds until ``expires_at``."""
    user: Me


def me_of(principal: Principal, *, display_name: str | None = None) -> Me:
    return Me(
        name=principal.name,
        display_name=display_name,
        role=principal.role,
        tenants=list(principal.tenants),
        unit=principal.unit if isinstance(principal, UserPrincipal) else None,
        permissions=sorted(PERMISSIONS.get(principal.role, frozenset())),
    )


def _refusal(decision: Decision) -> str:
    if decision.reason == "locked":
        return (
            "too many failed sign-ins for this username from this address; "
            f"try again in {decision.retry_after_header} s"
        )
    return f"too many sign-in attempts; try again in {decision.retry_after_header} s"


@router.post(
    "/token",
    response_model=TokenResponse,
    summary="Sign in with a username and password (OAuth2 password form)",
    responses=problems(422, 429),
)
async def sign_in(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    service: ServiceDep,
    ip: ClientIpDep,
) -> TokenResponse:
    username = normalize_username(form.username)
    guard = service.login_guard
    decision = await guard.check(username, ip)
    if not decision.allowed:
        log.warning("sign-in refused by the limits", extra={"reason": decision.reason, "ip": ip})
        raise RateLimited(decision, _refusal(decision))
    # A password longer than the policy allows matches no account; it is cut, not hashed whole.
    principal = await authenticate(
        service.users, username, form.password[: MAX_LENGTH + 1], hashing=service.hashing
    )
    target = f"user:{username[:MAX_AUDITED_NAME]}"
    if principal is None:
        after = await guard.failed(username, ip)
        locked = after.reason == "locked"
        await service.audit.append(
            actor="anonymous",
            tenant=None,
            action="auth.locked_out" if locked else "auth.sign_in_failed",
            target=target,
            after={"ip": ip},
        )
        raise ApiError(401, "unauthorized", "wrong username or password")
    await guard.succeeded(username, ip)
    issued = service.tokens.issue(principal)
    user = await service.users.get(principal.name)
    await service.audit.append(
        actor=principal.name,
        tenant=None,
        action="auth.sign_in",
        target=target,
        after={"ip": ip, "session": issued.claims.jti},
    )
    now = utcnow()
    return TokenResponse(
        access_token=issued.token,
        expires_at=issued.claims.expires_at,
        expires_in=max(0, int(issued.claims.exp - now.timestamp())),
        user=me_of(principal, display_name=user.display_name if user else None),
    )


@router.post(
    "/logout",
    status_code=204,
    response_class=Response,
    summary="End this session: its token is refused from now on, by every API process",
    responses=problems(400, 503),
)
async def sign_out(session: SessionDep, service: ServiceDep) -> Response:
    service.tokens.revoke(session)
    await service.revocations.flush()
    await service.audit.append(
        actor=session.sub,
        tenant=None,
        action="auth.sign_out",
        target=f"user:{session.sub}",
        after={"session": session.jti},
    )
    return Response(status_code=204)


@router.get("/me", response_model=Me, summary="Who is calling, and what they may do")
async def who_am_i(credentials: CredentialsDep, service: ServiceDep) -> Me:
    display_name = None
    if credentials.session is not None:
        user = await service.users.get(credentials.principal.name)
        display_name = user.display_name if user else None
    return me_of(credentials.principal, display_name=display_name)
