"""OAuth2 bearer access tokens: JWTs signed with HS256, and their revocation.

A token carries::

    {"iss": "soc", "sub": "<username>", "role": "analyst", "tenants": ["hue-ioc"],
     "unit": null, "iat": 1795996800.25, "exp": 1796025600, "jti": "<random>"}

``iat`` keeps milliseconds, so a session revoked at some moment (see
:meth:`Revocations.revoke_subject`) is told apart from one opened a moment later.

The signing key is derived from ``settings.auth.secret_key`` with HMAC-SHA256
and a fixed label, so it is always 32 bytes and differs from any other key
derived from the same secret. Verification pins the algorithm to HS256 (a
token saying ``none`` or ``HS512`` is refused), requires every claim, checks
the issuer, checks time against an explicit ``now`` with a small leeway, then
asks the revocations. Role, tenants and unit are copied into the
:class:`~soc.security.roles.UserPrincipal` as they were at login; changing a
user's role or tenants, or disabling them, must revoke their sessions.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, Protocol

import jwt
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from soc.errors import AuthError
from soc.models import utcnow
from soc.security.principal import Principal
from soc.security.roles import USER_ROLES, UserPrincipal, UserRole
from soc.settings import AuthSettings

ALGORITHM = "HS256"
ISSUER = "soc"
LIFETIME = timedelta(hours=8)
"""A night shift (22:00 to 06:00) plus nothing: the next shift signs in afresh."""
LEEWAY = timedelta(seconds=30)
"""Clock difference tolerated between API processes."""
MAX_TOKEN_BYTES = 8192
"""A longer bearer is refused before it is parsed."""
_KEY_LABEL = b"soc/security/tokens: access token signing key v1"
_CLAIMS = ["iss", "sub", "role", "tenants", "iat", "exp", "jti"]


class TokenError(AuthError):
    """A bearer token was refused (HTTP 401)."""


class TokenInvalid(TokenError):
    """Not a token this service made: malformed, bad signature, wrong algorithm or issuer."""


class TokenExpired(TokenError):
    """The token's lifetime has passed; sign in again."""


class TokenRevoked(TokenError):
    """The session was ended (signed out, or the account was changed or disabled)."""


class TokenClaims(BaseModel):
    """The verified content of an access token."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    iss: str
    sub: str = Field(min_length=1)
    role: UserRole
    tenants: tuple[str, ...] = Field(min_length=1)
    unit: str | None = None
    iat: float
    exp: float
    jti: str = Field(min_length=16)

    @property
    def issued_at(self) -> datetime:
        return datetime.fromtimestamp(self.iat, UTC)

    @property
    def expires_at(self) -> datetime:
        return datetime.fromtimestamp(self.exp, UTC)

    def principal(self) -> UserPrincipal:
        return UserPrincipal(name=self.sub, role=self.role, tenants=self.tenants, unit=self.unit)


class AccessToken(BaseModel):
    """The OAuth2 token response (RFC 6749 §5.1) the login route returns."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    """Seconds until the token expires."""


@dataclass(frozen=True)
class IssuedToken:
    token: str
    claims: TokenClaims

    def response(self, *, now: datetime | None = None) -> AccessToken:
        now = now or utcnow()
        left = math.floor(self.claims.exp - now.timestamp())
        return AccessToken(access_token=self.token, expires_in=max(left, 0))


class Revocations(Protocol):
    """Ended sessions, asked on every request, so it answers from memory.

    A shared implementation (for several API processes) keeps a local copy
    refreshed from the store, so a revocation reaches every process within
    its refresh interval.
    """

    def revoke(self, jti: str, *, expires_at: datetime) -> None:
        """End one session (sign-out); kept until the token would have expired anyway."""
        ...

    def revoke_subject(self, sub: str, *, before: datetime) -> None:
        """End every session of ``sub`` opened before ``before`` (account changed or disabled)."""
        ...

    def is_revoked(self, claims: TokenClaims) -> bool: ...


class MemoryRevocations:
    """Revocations in this process only, lost on restart.

    Enough for one API process and for tests. Entries are dropped once no token
    they could match is still valid, so memory stays bounded by the sign-outs
    within one token lifetime.
    """

    def __init__(
        self,
        *,
        lifetime: timedelta = LIFETIME,
        leeway: timedelta = LEEWAY,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._jtis: dict[str, datetime] = {}
        self._subjects: dict[str, datetime] = {}
        self._keep = lifetime + leeway
        self._leeway = leeway
        self._clock = clock

    def revoke(self, jti: str, *, expires_at: datetime) -> None:
        self._prune()
        self._jtis[jti] = expires_at

    def revoke_subject(self, sub: str, *, before: datetime) -> None:
        self._prune()
        current = self._subjects.get(sub)
        self._subjects[sub] = max(before, current) if current else before

    def is_revoked(self, claims: TokenClaims) -> bool:
        if claims.jti in self._jtis:
            return True
        cutoff = self._subjects.get(claims.sub)
        return cutoff is not None and claims.iat < cutoff.timestamp()

    def __len__(self) -> int:
        return len(self._jtis) + len(self._subjects)

    def _prune(self) -> None:
        now = self._clock()
        self._jtis = {j: e for j, e in self._jtis.items() if e + self._leeway >= now}
        self._subjects = {s: c for s, c in self._subjects.items() if c + self._keep >= now}


def derive_key(secret: str) -> bytes:
    """The 32-byte HS256 key for access tokens, derived from the service's secret."""
    return hmac.new(secret.encode(), _KEY_LABEL, hashlib.sha256).digest()


class Tokens:
    """Issues and verifies access tokens with one key."""

    def __init__(
        self,
        secret: str,
        *,
        issuer: str = ISSUER,
        lifetime: timedelta = LIFETIME,
        leeway: timedelta = LEEWAY,
        revocations: Revocations | None = None,
    ) -> None:
        if not secret:
            raise ValueError("the token secret is empty")
        self._key = derive_key(secret)
        self.issuer = issuer
        self.lifetime = lifetime
        self.leeway = leeway
        self.revocations: Revocations = revocations or MemoryRevocations(
            lifetime=lifetime, leeway=leeway
        )

    @classmethod
    def from_settings(cls, auth: AuthSettings, *, revocations: Revocations | None = None) -> Tokens:
        return cls(
            auth.secret_key.get_secret_value(),
            lifetime=timedelta(seconds=auth.token_lifetime_s),
            revocations=revocations,
        )

    def issue(self, principal: Principal, *, now: datetime | None = None) -> IssuedToken:
        """A token for a signed-in person (never for an ingest key)."""
        if principal.role not in USER_ROLES:
            raise ValueError(f"no session tokens for the role {principal.role!r}")
        now = now or utcnow()
        iat = round(now.timestamp(), 3)
        claims = TokenClaims(
            iss=self.issuer,
            sub=principal.name,
            role=principal.role,
            tenants=principal.tenants,
            unit=principal.unit if isinstance(principal, UserPrincipal) else None,
            iat=iat,
            exp=math.floor(iat + self.lifetime.total_seconds()),
            jti=secrets.token_urlsafe(16),
        )
        payload = claims.model_dump(mode="json")
        token = jwt.encode(payload, self._key, algorithm=ALGORITHM)
        return IssuedToken(token=token, claims=claims)

    def verify(self, token: str, *, now: datetime | None = None) -> TokenClaims:
        """The verified claims; raises TokenInvalid, TokenExpired or TokenRevoked."""
        if len(token) > MAX_TOKEN_BYTES:
            raise TokenInvalid("the access token is too long")
        try:
            payload = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                issuer=self.issuer,
                options={
                    "require": _CLAIMS,
                    # Time is checked below against an explicit `now`.
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
            claims = TokenClaims.model_validate(payload)
        except (jwt.InvalidTokenError, ValidationError) as e:
            raise TokenInvalid("the access token is not valid") from e
        t = (now or utcnow()).timestamp()
        leeway = self.leeway.total_seconds()
        if t >= claims.exp + leeway:
            raise TokenExpired("the access token has expired; sign in again")
        if claims.iat > t + leeway:
            raise TokenInvalid("the access token was issued in the future")
        if self.revocations.is_revoked(claims):
            raise TokenRevoked("the session has ended; sign in again")
        return claims

    def principal(self, token: str, *, now: datetime | None = None) -> UserPrincipal:
        return self.verify(token, now=now).principal()

    def revoke(self, claims: TokenClaims) -> None:
        """Sign out: this token is refused from now on."""
        self.revocations.revoke(claims.jti, expires_at=claims.expires_at)
