"""The service's errors, one tree; every error raised on purpose hangs under SocError.

    SocError
    ├── ConfigError              settings or a config file refused
    ├── RuleError                a Sigma rule could not be loaded or compiled (.path, .reason)
    ├── InputError               an input line or record refused (.reason, .detail) -> dead letter
    │   ├── NormalizeError       (soc.ingest.normalize) a record lacks what an event needs
    │   └── ZeekError            (soc.ingest.zeek) a line that is no valid Zeek record
    ├── AuthError                missing or wrong credentials, or a forbidden tenant
    │   ├── Forbidden            (soc.security.roles) the role or tenants do not allow it
    │   ├── TokenError           (soc.security.tokens) a bearer token was refused
    │   │   ├── TokenInvalid
    │   │   ├── TokenExpired
    │   │   └── TokenRevoked
    │   └── NotAllowed           (soc.incidents.errors) also an IncidentError
    ├── AccountError             an account could not be made or changed
    │   ├── WeakPassword         (soc.security.passwords) the policy refused it (.problems)
    │   ├── UserNotFound         (soc.security.users)
    │   └── UserExists           (soc.security.users)
    ├── IncidentError            (soc.incidents.errors) an incident operation was refused
    │   ├── NotAllowed
    │   ├── InvalidTransition    the action does not apply to the incident's status
    │   └── InvalidOperation     the arguments do not fit
    ├── QueryError               a query was refused (bad cursor, bad filter)
    │   └── QuerySyntaxError     (soc.store.eventquery) an event query's text (.column)
    ├── Conflict                 a record changed since it was read (.expected, .found)
    ├── NotFound                 no such record among the caller's tenants
    ├── DrillLost                (soc.drills.runner) a drill is no longer this runner's
    ├── SendFailed               (soc.notify.channels) a channel did not take a message
    ├── PushFailed               (soc.sharing.taxii) a TAXII server did not take a share
    ├── IntelError               threat intelligence could not be taken in
    │   ├── IntelFormatError     (soc.intel.parse) a file or body no parser reads (.format)
    │   └── FeedError            (soc.stages.intel_poll) a TAXII feed could not be polled
    ├── BackupError              (soc.store.backup) a backup or restore failed or was refused
    │   ├── BackupNotFound       no such snapshot or backup file
    │   └── TargetNotEmpty       the store to restore into holds records (.found)
    ├── BackendError             a bus or store failed (.retriable)
    │   ├── BusError
    │   └── StoreError
    ├── ApiError                 (soc.api.errors) an HTTP answer with its own code; also
    │   └── RateLimited          a Starlette HTTPException, so FastAPI renders it
    ├── TaxiiError               (soc.api.taxii) answered as a TAXII 2.1 error message
    └── ConnectorError           (connectors.errors) the connector agent's own tree
        ├── ConfigError          (connectors) a connector.yml refused (file:line: key: message)
        ├── ListenError          a push source cannot listen (address, TLS files)
        ├── ParseError           a record no parser reads (.reason, .detail)
        ├── Unreadable           an S3 object that cannot be read for its own sake
        └── DeliveryError        the destination did not acknowledge (.reason, .retry_after_s)

Library exceptions (aiokafka, opensearch-py, sqlite3) are translated into
these inside the backend module that calls the library and never leak past it.
The API maps each to an HTTP status (soc.api.errors); the pipeline turns an
InputError into a dead letter carrying its reason.
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


class InputError(SocError):
    """An input line or record was refused; ``reason`` is a dead-letter reason.

    ``str(error)`` is the detail alone, written for the sender.
    """

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(detail)


class AuthError(SocError):
    """Authentication failed or the caller may not do this."""


class AccountError(SocError):
    """An account could not be made or changed (a weak password, a name taken...)."""


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


class IntelError(SocError):
    """Threat intelligence could not be taken in."""


class IntelFormatError(IntelError):
    """A STIX bundle, MISP export or plain list that cannot be read at all (HTTP 422);
    ``format`` is what it was read as. Single bad items are reported, not raised."""

    def __init__(self, format: str, detail: str) -> None:
        self.format = format
        self.detail = detail
        super().__init__(f"{format}: {detail}")


class FeedError(IntelError):
    """A TAXII feed could not be polled (refused, unreachable, a bad answer)."""

    def __init__(self, feed: str, detail: str) -> None:
        self.feed = feed
        self.detail = detail
        super().__init__(f"feed {feed!r}: {detail}")


class BackupError(SocError):
    """A backup or a restore failed, or was refused (soc.store.backup)."""


class BackupNotFound(BackupError):
    """No snapshot or backup file of that name."""


class TargetNotEmpty(BackupError):
    """The store a restore would write into already holds records; ``found`` counts them by
    type. A restore replaces a store only when told to (``soc restore --replace``)."""

    def __init__(self, where: str, found: dict[str, int]) -> None:
        self.found = found
        held = ", ".join(f"{n} {k}" for k, n in sorted(found.items()) if n)
        super().__init__(
            f"{where} is not empty ({held}); restore into an empty store, or pass --replace"
        )


class BackendError(SocError):
    """A backend failed. ``retriable`` says whether trying again may help."""

    def __init__(self, message: str, *, retriable: bool = False) -> None:
        self.retriable = retriable
        super().__init__(message)


class BusError(BackendError):
    """The event bus failed."""


class StoreError(BackendError):
    """The store failed."""
