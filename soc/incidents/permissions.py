"""Who may do what to an incident, as data the API reuses.

Two checks, both needed:

1. **Role**: ``ROLE_ACTIONS[role]`` lists the actions a role may take at all.
2. **Ownership**: an incident is owned by the SOC (``owner_unit`` is None) or,
   once a hand-off is accepted, by a response unit.

   - A responder acts only on incidents their unit owns, and answers
     (``accept``/``reject``) only a pending hand-off to their unit.
   - While a unit owns an incident, the SOC keeps oversight through the lead
     (and admin); an analyst may then only ``SOC_WHILE_UNIT_OWNS`` (comment,
     judge alerts).

The tenant is checked before all this, by the API, from the credential.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from soc.incidents.errors import NotAllowed
from soc.incidents.models import Actor, Incident
from soc.settings import Role


class Action(StrEnum):
    # Status changes (lifecycle.TRANSITIONS)
    triage = "triage"
    hand_off = "hand_off"
    recall = "recall"
    accept = "accept"
    reject = "reject"
    start_response = "start_response"
    resolve = "resolve"
    close = "close"
    close_false_positive = "close_false_positive"
    reopen = "reopen"
    end_drill = "end_drill"
    """The drill the incident belongs to ended: closed whatever its status (soc.drills)."""
    # Casework, in any open status
    assign = "assign"
    comment = "comment"
    verdict = "verdict"
    tag = "tag"
    merge = "merge"
    move_alerts = "move_alerts"
    tlp = "tlp"
    """Set the incident's TLP (what sharing may send, soc.sharing)."""
    # Per tenant, not per incident
    suppress = "suppress"


_A = Action
_ANALYST = frozenset(
    {
        _A.triage,
        _A.hand_off,
        _A.recall,
        _A.start_response,
        _A.resolve,
        _A.close_false_positive,
        _A.assign,
        _A.comment,
        _A.verdict,
        _A.tag,
        _A.merge,
        _A.move_alerts,
        _A.tlp,
    }
)

ROLE_ACTIONS: Mapping[Role, frozenset[Action]] = {
    "ingest": frozenset(),
    "viewer": frozenset(),
    "analyst": _ANALYST,
    "lead": _ANALYST | {_A.close, _A.reopen, _A.suppress, _A.end_drill},
    "responder": frozenset(
        {
            _A.accept,
            _A.reject,
            _A.start_response,
            _A.resolve,
            _A.assign,
            _A.comment,
            _A.verdict,
            _A.tag,
        }
    ),
    "admin": frozenset(),
}
"""What each role may do at all: the one table of incident actions.

- Only analysts and leads hand off; only responders of the receiving unit answer.
- Analysts and responders resolve; only a lead closes a resolved incident, after
  review, and only a lead reopens or suppresses. An analyst may close an
  incident as a false positive (night-shift noise must not wait for a lead).
- An admin manages accounts and sees no incident (docs/adr/0007).

:mod:`soc.security.roles` decides the route-level actions (who may read or
work incidents at all); its ``incidents:write`` is exactly "this table gives
the role some action".
"""

SOC_WHILE_UNIT_OWNS: Mapping[Role, frozenset[Action]] = {
    "analyst": frozenset({_A.comment, _A.verdict}),
    "lead": ROLE_ACTIONS["lead"],
}
"""What SOC roles may do while a response unit owns the incident."""

ANSWERS = frozenset({_A.accept, _A.reject})
"""Actions that answer a pending hand-off: taken by the receiving unit, not the owner."""


def unit_sees(unit: str, incident: Incident) -> bool:
    """Whether a responder of ``unit`` sees ``incident``: their unit owns it, or it is offered
    to them. The store's query for a unit (owner or pending unit) asks the same."""
    pending = incident.handoff
    return incident.owner_unit == unit or (pending is not None and pending.to_unit == unit)


def may(role: Role, action: Action) -> bool:
    """Whether the role may take the action at all (for showing buttons)."""
    return action in ROLE_ACTIONS[role]


def check(actor: Actor, action: Action, incident: Incident | None = None) -> None:
    """Raise NotAllowed unless ``actor`` may take ``action`` (on ``incident``, when given)."""
    if action not in ROLE_ACTIONS[actor.role]:
        raise NotAllowed(f"a {actor.role} may not {action.value}", action=action)
    if incident is None:
        return
    if action in ANSWERS:
        pending = incident.handoff
        if pending is None or actor.unit != pending.to_unit:
            raise NotAllowed(
                f"only a responder of the receiving unit may {action.value} a hand-off",
                action=action,
            )
        return
    if actor.role == "responder":
        if incident.owner_unit is None or incident.owner_unit != actor.unit:
            raise NotAllowed(
                f"unit {actor.unit} does not own this incident; it may not {action.value} it",
                action=action,
            )
        return
    if incident.owner_unit is not None and action not in SOC_WHILE_UNIT_OWNS.get(
        actor.role, frozenset()
    ):
        raise NotAllowed(
            f"unit {incident.owner_unit} owns this incident; a {actor.role} may not "
            f"{action.value} it",
            action=action,
        )
