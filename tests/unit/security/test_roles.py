"""The permission matrix, cell by cell, and the tenant and unit rules."""

from __future__ import annotations

from typing import cast, get_args

import pytest

from soc.security.principal import Principal
from soc.security.roles import (
    ACTIONS,
    PERMISSIONS,
    Action,
    Forbidden,
    UserPrincipal,
    can,
    may_manage,
    require,
    scope,
    unit_of,
)
from soc.settings import Role

# The intended matrix, written out again on purpose: a change to PERMISSIONS
# must be made here too, deliberately.
R = ["viewer", "analyst", "lead", "responder", "admin", "ingest", "taxii"]
MATRIX: dict[str, str] = {
    #                      viewer analyst lead responder admin ingest taxii
    "alerts:read":        "  x      x      x     .        .     .     .",
    "events:read":        "  x      x      x     .        .     .     .",
    "alerts:triage":      "  .      x      x     .        .     .     .",
    "incidents:read":     "  x      x      x     x        .     .     .",
    "incidents:write":    "  .      x      x     x        .     .     .",
    "evidence:export":    "  .      x      x     x        .     .     .",
    "audit:read":         "  .      .      x     .        .     .     .",
    "audit:verify":       "  .      .      x     .        x     .     .",
    "users:manage":       "  .      .      .     .        x     .     .",
    "ingest:write":       "  .      .      .     .        .     x     .",
    "search":             "  x      x      x     .        .     .     .",
    "hunts:read":         "  .      x      x     .        .     .     .",
    "hunts:run":          "  .      .      x     .        .     .     .",
    "rules:read":         "  .      x      x     .        x     .     .",
    "rules:write":        "  .      .      x     .        x     .     .",
    "drills:read":        "  .      .      x     .        .     .     .",
    "drills:run":         "  .      .      x     .        .     .     .",
    "notifications:manage": "  .      .      x     .        .     .     .",
    "intel:read":         "  x      x      x     .        .     .     .",
    "intel:manage":       "  .      .      x     .        .     .     .",
    "sharing:approve":    "  .      .      x     .        .     .     .",
    "taxii:read":         "  .      .      .     .        .     .     x",
}  # fmt: skip
CELLS = [
    (role, action, marks.split()[i] == "x")
    for action, marks in MATRIX.items()
    for i, role in enumerate(R)
]


def p(role: str, *tenants: str, unit: str | None = None) -> UserPrincipal:
    return UserPrincipal(name=f"{role}.test", role=cast(Role, role), tenants=tenants, unit=unit)


def test_the_matrix_covers_every_action_and_role() -> None:
    assert set(MATRIX) == set(ACTIONS)
    assert set(R) == set(get_args(Role)) == set(PERMISSIONS)
    assert len(CELLS) == 22 * 7


@pytest.mark.parametrize(("role", "action", "allowed"), CELLS)
def test_matrix(role: str, action: Action, allowed: bool) -> None:
    principal = p(role, "hue-ioc", unit="CAT-PCTP")
    assert can(principal, action) is allowed
    if allowed:
        require(principal, action)
    else:
        with pytest.raises(Forbidden, match=action):
            require(principal, action)


def test_an_api_key_principal_is_judged_by_its_role_alone() -> None:
    key = Principal(name="connector-ioc-dc1", role="ingest", tenants=("hue-ioc",))
    assert can(key, "ingest:write")
    assert not can(key, "alerts:read")


def test_scope_narrows_to_the_callers_tenants() -> None:
    analyst = p("analyst", "hue-ioc", "hue-dof")
    assert scope(analyst, "alerts:read") == ["hue-ioc", "hue-dof"]
    assert scope(analyst, "alerts:read", ["hue-dof"]) == ["hue-dof"]
    with pytest.raises(Forbidden, match="outside"):
        scope(analyst, "alerts:read", ["hue-doh"])


def test_a_lead_with_star_sees_every_tenant() -> None:
    lead = p("lead", "*")
    assert scope(lead, "incidents:read") is None
    assert scope(lead, "incidents:read", ["hue-doh"]) == ["hue-doh"]


def test_only_leads_and_admins_may_hold_star() -> None:
    with pytest.raises(Forbidden, match="all tenants"):
        scope(p("analyst", "*"), "alerts:read")
    with pytest.raises(Forbidden, match="all tenants"):
        scope(Principal(name="k", role="viewer", tenants=("*",)), "alerts:read")


def test_an_admin_sees_no_data_even_with_star() -> None:
    admin = p("admin", "*")
    data: tuple[Action, ...] = (
        "alerts:read",
        "events:read",
        "incidents:read",
        "search",
        "evidence:export",
        "audit:read",
    )
    for action in data:
        with pytest.raises(Forbidden):
            scope(admin, action)
    assert scope(admin, "audit:verify") is None


def test_a_responder_works_within_its_unit() -> None:
    assert unit_of(p("responder", "hue-ioc", unit="CAT-PCTP")) == "CAT-PCTP"
    assert unit_of(p("analyst", "hue-ioc")) is None
    with pytest.raises(Forbidden, match="unit"):
        unit_of(Principal(name="k", role="responder", tenants=("hue-ioc",)))
    with pytest.raises(Forbidden, match="search"):
        scope(p("responder", "hue-ioc", unit="CAT-PCTP"), "search")


@pytest.mark.parametrize(
    ("manager", "tenants", "allowed"),
    [
        (p("admin", "*"), ["*"], True),
        (p("admin", "*"), ["hue-ioc"], True),
        (p("admin", "hue-ioc", "hue-dof"), ["hue-ioc"], True),
        (p("admin", "hue-ioc", "hue-dof"), ["hue-ioc", "hue-dof"], True),
        (p("admin", "hue-ioc"), ["hue-dof"], False),
        (p("admin", "hue-ioc"), ["*"], False),
        (p("lead", "*"), ["hue-ioc"], False),
        (p("analyst", "*"), ["hue-ioc"], False),
    ],
)
def test_who_manages_which_accounts(
    manager: UserPrincipal, tenants: list[str], allowed: bool
) -> None:
    assert may_manage(manager, tenants=tenants) is allowed


def test_a_user_principal_is_a_principal() -> None:
    user = p("analyst", "hue-ioc")
    assert isinstance(user, Principal)
    assert user.scope() == ["hue-ioc"]
    assert not user.all_tenants


def test_incidents_write_is_exactly_having_some_incident_action() -> None:
    """One table decides incident actions; the route-level matrix agrees with it."""
    from soc.incidents.permissions import ROLE_ACTIONS

    for role, actions in ROLE_ACTIONS.items():
        assert ("incidents:write" in PERMISSIONS[role]) == bool(actions), role
