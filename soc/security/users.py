"""People who sign in: the user model, the user store seam, and password sign-in.

    UserRead  (what the API shows: no hash)
      └── User  (what the store keeps: + password_hash)

The store is a :class:`UserStore` (an in-memory one here for tests; the one
over the SQLite and OpenSearch case records is :mod:`soc.security.accounts`). :func:`authenticate`
checks a password and returns a :class:`~soc.security.roles.UserPrincipal`;
it answers ``None`` alike for an unknown user, a disabled user and a wrong
password, after the same work.
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from soc.errors import AccountError
from soc.models import UtcDatetime, utcnow
from soc.security.passwords import PasswordHashing, require_strong
from soc.security.roles import UserPrincipal, UserRole, may_hold_all_tenants
from soc.settings import ALL_TENANTS, TENANT_NAME

USERNAME = r"[a-z0-9][a-z0-9._@-]{0,63}"
"""Usernames are stored lowercase: letters, digits, ``. _ @ -``, at most 64 characters."""


class UserNotFound(AccountError):
    """No user by that name."""


class UserExists(AccountError):
    """An account by that name exists already."""


def normalize_username(username: str) -> str:
    return username.strip().lower()


class UserRead(BaseModel):
    """An account as the API shows it."""

    model_config = ConfigDict(extra="forbid")

    username: str
    display_name: str = Field(min_length=1, max_length=200)
    role: UserRole
    tenants: list[str] = Field(min_length=1)
    """Tenants whose data the user sees; ``*`` (leads and admins only) for all."""
    unit: str | None = Field(None, max_length=100)
    """The responding unit, e.g. ``CAT-PCTP``; required for responders."""
    disabled: bool = False
    created: UtcDatetime
    last_login: UtcDatetime | None = None

    @field_validator("username", mode="before")
    @classmethod
    def _normalize(cls, v: object) -> object:
        return normalize_username(v) if isinstance(v, str) else v

    @field_validator("username")
    @classmethod
    def _username_shape(cls, v: str) -> str:
        if not re.fullmatch(USERNAME, v):
            raise ValueError(
                "a username is 1 to 64 lowercase letters, digits or . _ @ -, "
                "starting with a letter or digit"
            )
        return v

    @field_validator("tenants")
    @classmethod
    def _tenant_names(cls, v: list[str]) -> list[str]:
        bad = [t for t in v if t != ALL_TENANTS and not re.fullmatch(TENANT_NAME, t)]
        if bad:
            raise ValueError(f"not tenant names: {bad}")
        return v

    @model_validator(mode="after")
    def _role_rules(self) -> UserRead:
        if ALL_TENANTS in self.tenants and not may_hold_all_tenants(self.role):
            raise ValueError(f"the role {self.role!r} may not hold all tenants ('*')")
        if self.role == "responder" and not self.unit:
            raise ValueError("a responder needs a unit, e.g. CAT-PCTP")
        return self


class User(UserRead):
    """An account as the store keeps it."""

    password_hash: str = Field(repr=False)

    def principal(self) -> UserPrincipal:
        return UserPrincipal(
            name=self.username, role=self.role, tenants=tuple(self.tenants), unit=self.unit
        )

    def public(self) -> UserRead:
        return UserRead.model_validate(self.model_dump(exclude={"password_hash"}))


class UserStore(Protocol):
    """Where accounts live. Names are normalized by the callers (:func:`normalize_username`)."""

    async def get(self, username: str) -> User | None: ...

    async def put(self, user: User) -> None:
        """Create or replace the account."""
        ...

    async def create(self, user: User) -> None:
        """Add a new account. Raises :class:`UserExists` when the name is taken."""
        ...

    async def update(self, username: str, change: Callable[[User], User]) -> User:
        """Store ``change(stored account)`` and return it, losing no concurrent write.

        ``change`` may be called more than once, each time on a fresh read, so it
        must only compute (raise to give up). Raises :class:`UserNotFound`.
        """
        ...

    async def list(self) -> builtins.list[User]:
        """Every account, by username."""
        ...

    async def set_password(self, username: str, password_hash: str) -> None:
        """Replace the hash only. Raises :class:`UserNotFound`."""
        ...

    async def disable(self, username: str) -> None:
        """Refuse the account's sign-ins from now on. Raises :class:`UserNotFound`."""
        ...

    async def record_login(self, username: str, *, at: datetime) -> None:
        """Set ``last_login``. Raises :class:`UserNotFound`."""
        ...


class MemoryUserStore:
    """Accounts in a dict, for tests and a development ``soc run``."""

    def __init__(self) -> None:
        self._users: dict[str, User] = {}

    async def get(self, username: str) -> User | None:
        user = self._users.get(username)
        return user.model_copy(deep=True) if user else None

    async def put(self, user: User) -> None:
        self._users[user.username] = user.model_copy(deep=True)

    async def create(self, user: User) -> None:
        if user.username in self._users:
            raise UserExists(f"a user {user.username!r} exists")
        await self.put(user)

    async def update(self, username: str, change: Callable[[User], User]) -> User:
        user = self._users.get(username)
        if user is None:
            raise UserNotFound(f"no user {username!r}")
        changed = change(user.model_copy(deep=True))
        await self.put(changed)
        return changed.model_copy(deep=True)

    async def list(self) -> builtins.list[User]:
        return [self._users[k].model_copy(deep=True) for k in sorted(self._users)]

    async def set_password(self, username: str, password_hash: str) -> None:
        self._update(username, password_hash=password_hash)

    async def disable(self, username: str) -> None:
        self._update(username, disabled=True)

    async def record_login(self, username: str, *, at: datetime) -> None:
        self._update(username, last_login=at)

    def _update(self, username: str, **changes: object) -> None:
        user = self._users.get(username)
        if user is None:
            raise UserNotFound(f"no user {username!r}")
        self._users[username] = user.model_copy(update=changes)


def new_user(
    *,
    username: str,
    display_name: str,
    role: UserRole,
    tenants: list[str],
    password: str,
    hashing: PasswordHashing,
    unit: str | None = None,
    now: datetime | None = None,
) -> User:
    """A valid account with a hashed password; raises WeakPassword or a ValidationError."""
    name = normalize_username(username)
    require_strong(password, username=name)
    return User(
        username=name,
        display_name=display_name,
        role=role,
        tenants=tenants,
        unit=unit,
        created=now or utcnow(),
        password_hash=hashing.hash(password),
    )


async def authenticate(
    store: UserStore,
    username: str,
    password: str,
    *,
    hashing: PasswordHashing,
    now: datetime | None = None,
) -> UserPrincipal | None:
    """The principal when the password is right and the account enabled, else ``None``.

    Always one argon2 verify, against the dummy hash when there is no such user,
    so response time does not tell which usernames exist. A hash made with
    older parameters is replaced after a successful sign-in.
    """
    user = await store.get(normalize_username(username))
    ok = await hashing.verify_async(user.password_hash if user else None, password)
    if user is None or user.disabled or not ok:
        return None
    if hashing.needs_rehash(user.password_hash):
        await store.set_password(user.username, await hashing.hash_async(password))
    await store.record_login(user.username, at=now or utcnow())
    return user.principal()
