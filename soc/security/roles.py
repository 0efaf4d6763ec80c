"""Who may do what: the permission matrix as data, and the tenant rule.

Every route asks :func:`require` (or :func:`can`) for one action, then asks
:func:`scope` for the tenants its query may touch. Both are decided here, on the
server, from the caller's :class:`~soc.security.principal.Principal`; nothing the client
sends widens them.

The matrix (✓ allowed):

    action               viewer analyst lead responder admin ingest
    alerts:read            ✓      ✓      ✓
    events:read            ✓      ✓      ✓
    alerts:triage                 ✓      ✓
    incidents:read         ✓      ✓      ✓     ✓ (unit)
    incidents:write               ✓      ✓     ✓ (unit)
    evidence:export               ✓      ✓     ✓ (unit)
    audit:read                           ✓
    audit:verify                         ✓             ✓
    users:manage                                       ✓
    ingest:write                                             ✓
    search                 ✓      ✓      ✓
    hunts:read                    ✓      ✓
    hunts:run                            ✓
    rules:read                    ✓      ✓                ✓
    rules:write                          ✓                ✓
    drills:read                          ✓
    drills:run                           ✓
    notifications:manage                 ✓
    intel:read             ✓      ✓      ✓
    intel:manage                         ✓
    sharing:approve                      ✓
    taxii:read                                                      taxii

Decisions (docs/adr/0007-users-and-tokens.md):

- Which incident actions (hand off, accept, resolve, close...) a role may take
  is one table, :data:`soc.incidents.permissions.ROLE_ACTIONS`, which also
  knows ownership; here ``incidents:write`` only says the role works
  incidents at all. Analysts hand off and resolve; only a lead closes, after
  review.
- A responder (e.g. the police unit ``CAT-PCTP``) works the incidents handed to
  its unit and nothing else: no alert list, no search, no stored events (an
  event search would reach every event of its tenants, not only its unit's).
- ``events:read`` (the event explorer: search, stats and histogram over every
  stored event) goes with ``alerts:read``: whoever reads the alert queue may
  read the events it came from and their neighbours. The incidents service
  narrows their reads and writes with :func:`unit_of`.
- **An admin manages accounts but sees no data**: no alerts, incidents,
  evidence, search or audit entries; it may verify the audit chain (a yes/no and
  a hash). Leads read the audit trail, including what admins did. So one stolen
  admin password does not open every tenant's incidents, and an admin who makes
  themself a lead leaves a trail a lead will read.
- A retro-hunt (soc.hunt) runs a Sigma rule over the stored events of a range and may
  raise alerts into every analyst's queue: leads run them, as they lift suppressions
  and close incidents; analysts read them (what was hunted, what it found). Viewers
  do not: a hunt's pasted rule text is detection work in progress.
- Detection rules (soc.detect.catalog) are managed by leads and admins (``rules:write``):
  a rule is configuration, not a tenant's data, so an admin may tune one; analysts read
  them (the rule behind an alert in their queue). A change to a rule's text reaches every
  tenant, so it needs ``*``; a lead or admin of some tenants turns rules on and off for
  those tenants only. The rules list's alert counts are data: only for ``alerts:read``. A
  rule's test run is a retro-hunt preview: ``hunts:run`` too.
- Drills (soc.drills) are run and scored by leads: a blind drill must look real to
  analysts and responders, so only leads list drills, see their scorecards and see a
  blind drill's marking before it ends (an announced drill's badge is on every alert
  and incident).
- Notifications (soc.notify) are configured by leads (``notifications:manage``): where
  a tenant's incidents are told is part of running its response; admins manage accounts,
  not where data goes.
- Threat intelligence (soc.intel): whoever reads alerts reads the indicators they matched
  and the feeds; leads add, import, revoke indicators and manage feeds. What leaves the
  SOC (soc.sharing) is decided by the tenant's policy; a share that waits for approval is
  approved by a lead (``sharing:approve``). The ``taxii`` role is for API keys of TAXII
  consumers (the national platform): it reads the SOC's TAXII collections of its tenants
  and nothing else.
- Only leads and admins may hold ``*`` (all tenants). For a lead it means every
  tenant's data; for an admin, every tenant's accounts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, get_args

from soc.errors import AuthError
from soc.security.principal import Principal
from soc.settings import ALL_TENANTS, Role

Action = Literal[
    "alerts:read",
    "events:read",
    "alerts:triage",
    "incidents:read",
    "incidents:write",
    "evidence:export",
    "audit:read",
    "audit:verify",
    "users:manage",
    "ingest:write",
    "search",
    "hunts:read",
    "hunts:run",
    "rules:read",
    "rules:write",
    "drills:read",
    "drills:run",
    "notifications:manage",
    "intel:read",
    "intel:manage",
    "sharing:approve",
    "taxii:read",
]
ACTIONS: tuple[Action, ...] = get_args(Action)

UserRole = Literal["viewer", "analyst", "lead", "responder", "admin"]
"""Roles a person may have; ``ingest`` belongs to connectors' API keys only."""
USER_ROLES: tuple[UserRole, ...] = get_args(UserRole)

_READ: frozenset[Action] = frozenset(
    {"alerts:read", "events:read", "incidents:read", "search", "intel:read"}
)
_ANALYST: frozenset[Action] = _READ | {
    "alerts:triage",
    "incidents:write",
    "evidence:export",
    "hunts:read",
    "rules:read",
}

PERMISSIONS: Mapping[Role, frozenset[Action]] = {
    "viewer": _READ,
    "analyst": _ANALYST,
    "lead": _ANALYST
    | {
        "audit:read",
        "audit:verify",
        "hunts:run",
        "rules:write",
        "drills:read",
        "drills:run",
        "notifications:manage",
        "intel:manage",
        "sharing:approve",
    },
    "responder": frozenset(
        {
            "incidents:read",
            "incidents:write",
            "evidence:export",
        }
    ),
    "admin": frozenset({"users:manage", "audit:verify", "rules:read", "rules:write"}),
    "ingest": frozenset({"ingest:write"}),
    "taxii": frozenset({"taxii:read"}),
}
"""The matrix: each role's actions. Change it here and in the test's table together."""

ALL_TENANT_ROLES: frozenset[Role] = frozenset({"lead", "admin"})
"""Roles that may hold ``*``."""

UNIT_ROLES: frozenset[Role] = frozenset({"responder"})
"""Roles whose incident work is narrowed to their unit."""


class Forbidden(AuthError):
    """The caller is known but may not do this (HTTP 403)."""


@dataclass(frozen=True)
class UserPrincipal(Principal):
    """A person signed in with a password or a session token.

    A :class:`Principal` everywhere one is expected; ``unit`` is the responding
    unit (e.g. ``CAT-PCTP``) of a responder.
    """

    unit: str | None = None


def can(principal: Principal, action: Action) -> bool:
    """Whether the principal's role allows ``action`` (tenants are checked by :func:`scope`)."""
    return action in PERMISSIONS.get(principal.role, frozenset())


def require(principal: Principal, action: Action) -> None:
    """Raise :class:`Forbidden` unless the principal may do ``action``."""
    if not can(principal, action):
        raise Forbidden(f"the role {principal.role!r} may not do {action!r}")


def may_hold_all_tenants(role: Role) -> bool:
    return role in ALL_TENANT_ROLES


def scope(
    principal: Principal, action: Action, requested: list[str] | None = None
) -> list[str] | None:
    """The tenants ``action`` may touch: ``None`` for all, else a list.

    Checks the action first, then the tenants (:meth:`Principal.scope`).
    Raises :class:`Forbidden` when the action is not allowed, when a requested
    tenant is outside the caller's, or when a role other than lead or admin
    holds ``*`` (a misconfigured key is refused rather than trusted).
    """
    require(principal, action)
    if principal.all_tenants and not may_hold_all_tenants(principal.role):
        raise Forbidden(f"the role {principal.role!r} may not hold all tenants ('*')")
    try:
        return principal.scope(requested)
    except PermissionError as e:
        raise Forbidden(str(e)) from e


def unit_of(principal: Principal) -> str | None:
    """The unit a responder's incident work is narrowed to; ``None`` for other roles.

    Raises :class:`Forbidden` for a responder without a unit (e.g. an API key),
    who therefore sees no incident rather than every incident.
    """
    if principal.role not in UNIT_ROLES:
        return None
    unit = principal.unit if isinstance(principal, UserPrincipal) else None
    if not unit:
        raise Forbidden("a responder needs a unit to work incidents")
    return unit


def may_manage(principal: Principal, *, tenants: list[str] | tuple[str, ...]) -> bool:
    """Whether ``principal`` may create, change or disable an account holding ``tenants``.

    An admin with ``*`` manages every account; an admin of some tenants manages
    the accounts whose tenants are all among them, and cannot grant ``*``.
    """
    if not can(principal, "users:manage"):
        return False
    if principal.all_tenants:
        return may_hold_all_tenants(principal.role)
    return ALL_TENANTS not in tenants and set(tenants) <= set(principal.tenants)
