"""The service's errors, one tree.

    SocError
    ├── ConfigError          settings or a config file refused
    ├── RuleError            a Sigma rule could not be loaded or compiled (.path, .reason)
    ├── AuthError            missing or wrong credentials, or a forbidden tenant
    ├── QueryError           a query was refused (bad cursor, bad filter)
    ├── Conflict             a record changed since it was read (.expected, .found)
    ├── NotFound             no such record among the caller's tenants
    └── BackendError         a bus or store failed (.retriable)
        ├── BusError
        └── StoreError

Library exceptions (aiokafka, opensearch-py, sqlite3) are translated into
these inside the backend module that calls the library and never leak past it.
"""

from __future__ import annotations

from pathlib import Path


class SocError(Exception):
    """Base of every error the service raises on purpose."""


class ConfigError(SocError):
    """Settings or a configuration file were refused."""


class RuleError(SocError):
    """A rule could not be loaded or compiled."""

    def __init__(self, reason: str, *, path: Path | str | None = None) -> None:
        self.path = str(path) if path is not None else None
        self.reason = reason
        super().__init__(f"{self.path}: {reason}" if self.path else reason)


class AuthError(SocError):
    """Authentication failed or the caller may not do this."""


class QueryError(SocError):
    """A query was refused, e.g. a cursor that was not made by the store."""


class Conflict(SocError):
    """A record changed since the caller read it: reload and try again (HTTP 409)."""

    def __init__(self, message: str, *, expected: int, found: int | None) -> None:
        self.expected = expected
        self.found = found
        super().__init__(message)


class NotFound(SocError):
    """No such record among the caller's tenants (HTTP 404), exactly as if it did not exist."""


class BackendError(SocError):
    """A backend failed. ``retriable`` says whether trying again may help."""

    def __init__(self, message: str, *, retriable: bool = False) -> None:
        self.retriable = retriable
        super().__init__(message)


class BusError(BackendError):
    """The event bus failed."""


class StoreError(BackendError):
    """The store failed."""
