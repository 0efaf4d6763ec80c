"""Who is calling: the principal, and the API keys of the settings.

A principal is the identity every layer asks about: the API authenticates
callers into one, the role matrix (roles.py) and the incident desk decide
with it. Only the SHA-256 of each API key is configured. People sign in for
a session token instead (tokens.py); the API's dependencies accept both.
What a principal may do is decided by soc/security/roles.py, on the server,
for every route but health and metrics.
"""

from __future__ import annotations

from dataclasses import dataclass

from soc.settings import ALL_TENANTS, ApiKey, Role


@dataclass(frozen=True)
class Principal:
    name: str
    role: Role
    tenants: tuple[str, ...]

    @property
    def all_tenants(self) -> bool:
        return ALL_TENANTS in self.tenants

    def scope(self, requested: list[str] | None = None) -> list[str] | None:
        """The tenants a query may see: ``None`` for all, else a list (maybe narrowed).

        Raises PermissionError when a requested tenant is outside the caller's.
        """
        if requested:
            if not self.all_tenants and not set(requested) <= set(self.tenants):
                raise PermissionError("a requested tenant is outside the caller's tenants")
            return list(requested)
        return None if self.all_tenants else list(self.tenants)


class KeyRing:
    """Looks a token up by its hash."""

    def __init__(self, keys: list[ApiKey]) -> None:
        self._by_hash = {k.sha256: k for k in keys}
        self.names = frozenset(k.name.strip().lower() for k in keys)
        """Key names, lower-cased: no user may be named like one (one namespace of actors)."""

    def principal(self, token: str) -> Principal | None:
        key = self._by_hash.get(ApiKey.hash(token))
        if key is None:
            return None
        return Principal(name=key.name, role=key.role, tenants=tuple(key.tenants))
