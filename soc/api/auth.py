"""Who is calling: bearer tokens checked against the configured API keys.

Only the SHA-256 of each token is configured. Roles and tenants are enforced
here, on the server, for every route but health and metrics.
"""

from __future__ import annotations

from dataclasses import dataclass

from soc.settings import ALL_TENANTS, ApiKey, Role

READ_ROLES: frozenset[Role] = frozenset({"viewer", "analyst", "lead", "responder", "admin"})


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

    def principal(self, token: str) -> Principal | None:
        key = self._by_hash.get(ApiKey.hash(token))
        if key is None:
            return None
        return Principal(name=key.name, role=key.role, tenants=tuple(key.tenants))
