"""Who is calling and what they may do: principals, users, passwords, tokens, roles, limits.

    principal.py   the caller's identity (Principal) and the API keys of the settings
    passwords.py   argon2id hashing, dummy verify for unknown users, the password policy
    tokens.py      HS256 JWT access tokens (OAuth2 bearer), revocations
    roles.py       the permission matrix, the tenant rule, UserPrincipal
    users.py       User, the UserStore seam (in-memory here), authenticate()
    ratelimit.py   token buckets and the sign-in lockout
    accounts.py    accounts and ended sessions kept as case records in the store

All but accounts.py are pure building blocks. Their errors hang off the
service's tree, drawn whole in soc/errors.py: Forbidden and TokenError
(TokenInvalid, TokenExpired, TokenRevoked) under AuthError; WeakPassword,
UserNotFound and UserExists under AccountError.

See docs/adr/0007-users-and-tokens.md.
"""

from soc.security.passwords import (
    PasswordHashing,
    PasswordProblem,
    WeakPassword,
    check_password,
    require_strong,
)
from soc.security.ratelimit import Decision, LoginGuard, RateLimiter
from soc.security.roles import (
    ACTIONS,
    PERMISSIONS,
    USER_ROLES,
    Action,
    Forbidden,
    UserPrincipal,
    UserRole,
    can,
    may_manage,
    require,
    scope,
    unit_of,
)
from soc.security.tokens import (
    AccessToken,
    IssuedToken,
    MemoryRevocations,
    Revocations,
    TokenClaims,
    TokenError,
    TokenExpired,
    TokenInvalid,
    TokenRevoked,
    Tokens,
)
from soc.security.users import (
    MemoryUserStore,
    User,
    UserExists,
    UserNotFound,
    UserRead,
    UserStore,
    authenticate,
    new_user,
    normalize_username,
)

__all__ = [
    "ACTIONS",
    "PERMISSIONS",
    "USER_ROLES",
    "AccessToken",
    "Action",
    "Decision",
    "Forbidden",
    "IssuedToken",
    "LoginGuard",
    "MemoryRevocations",
    "MemoryUserStore",
    "PasswordHashing",
    "PasswordProblem",
    "RateLimiter",
    "Revocations",
    "TokenClaims",
    "TokenError",
    "TokenExpired",
    "TokenInvalid",
    "TokenRevoked",
    "Tokens",
    "User",
    "UserExists",
    "UserNotFound",
    "UserPrincipal",
    "UserRead",
    "UserRole",
    "UserStore",
    "WeakPassword",
    "authenticate",
    "can",
    "check_password",
    "may_manage",
    "new_user",
    "normalize_username",
    "require",
    "require_strong",
    "scope",
    "unit_of",
]
