"""Users, passwords, session tokens, roles and rate limits: pure building blocks.

    passwords.py   argon2id hashing, dummy verify for unknown users, the password policy
    tokens.py      HS256 JWT access tokens (OAuth2 bearer), revocations
    roles.py       the permission matrix, the tenant rule, UserPrincipal
    users.py       User, the UserStore seam (in-memory here), authenticate()
    ratelimit.py   token buckets and the sign-in lockout

Their errors hang off the service's tree (soc/errors.py):

    SocError
    ├── AuthError
    │   ├── Forbidden          the role or tenants do not allow it (403)
    │   └── TokenError         a bearer token was refused (401)
    │       ├── TokenInvalid
    │       ├── TokenExpired
    │       └── TokenRevoked
    ├── WeakPassword           the policy refused a password (.problems)
    ├── UserNotFound
    └── UserExists

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
