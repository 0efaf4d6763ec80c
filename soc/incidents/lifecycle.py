"""The incident's state machine: which action leads from which status to which.

    new            triage -> triaged            close_false_positive -> closed_false_positive
    triaged        hand_off -> handed_off       start_response -> responding
                                                close_false_positive -> closed_false_positive
    handed_off     accept -> acknowledged       reject, recall -> triaged
    acknowledged   start_response -> responding
    responding     resolve -> resolved          close_false_positive -> closed_false_positive
    resolved       close -> closed              reopen -> responding
    closed, closed_false_positive               reopen -> triaged
    any open status (a drill's incident)        end_drill -> closed

``end_drill`` is the drill's end (soc.drills): a lead ends the drill, and each of its
incidents still open is closed with the resolution "drill ended", its history kept; a
pending hand-off is recalled with that reason.

``TRANSITIONS`` is that table; :func:`apply` takes one command, checks the
actor's role, the table, then who owns the incident (permissions.py), and
returns the new incident with a Change for the audit trail; the incident
given is not modified. Hand-off:

- ``hand_off`` (analyst or lead) offers a triaged incident to a named unit;
  ownership does not move until the unit answers.
- ``accept`` (a responder of that unit) makes the unit the owner, and the
  responder the owner user and assignee.
- ``reject`` (the same) needs a reason; the incident returns to triaged,
  still owned by whoever offered it (the SOC, or the unit that passed it on).
- ``recall`` (the SOC) withdraws a pending offer, e.g. one left unanswered.

``acknowledged_at`` is set on the first entry to acknowledged or any later
status, ``resolved_at`` on entry to resolved or a closed status: the
deadlines are measured against them. ``reopen`` clears ``resolved_at``,
``closed_at`` and the resolution (the Change keeps them). Merging (merge.py)
is the one other way an incident is closed; a merged incident is not reopened.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from soc.incidents._changes import change, rebuild
from soc.incidents.errors import InvalidOperation, InvalidTransition
from soc.incidents.models import (
    UNIT_NAME,
    Actor,
    AlertRef,
    Change,
    HandOff,
    HandOffState,
    Incident,
    IncidentStatus,
    Verdict,
)
from soc.incidents.permissions import Action, check

S = IncidentStatus
A = Action

TRANSITIONS: Mapping[tuple[IncidentStatus, Action], IncidentStatus] = {
    (S.new, A.triage): S.triaged,
    (S.new, A.close_false_positive): S.closed_false_positive,
    (S.triaged, A.hand_off): S.handed_off,
    (S.triaged, A.start_response): S.responding,
    (S.triaged, A.close_false_positive): S.closed_false_positive,
    (S.handed_off, A.accept): S.acknowledged,
    (S.handed_off, A.reject): S.triaged,
    (S.handed_off, A.recall): S.triaged,
    (S.acknowledged, A.start_response): S.responding,
    (S.responding, A.resolve): S.resolved,
    (S.responding, A.close_false_positive): S.closed_false_positive,
    (S.resolved, A.close): S.closed,
    (S.resolved, A.reopen): S.responding,
    (S.closed, A.reopen): S.triaged,
    (S.closed_false_positive, A.reopen): S.triaged,
    **{
        (s, A.end_drill): S.closed
        for s in (S.new, S.triaged, S.handed_off, S.acknowledged, S.responding, S.resolved)
    },
}
"""(status, action) -> the status it leads to; any pair not listed is refused."""

ACKNOWLEDGED = frozenset(
    {S.acknowledged, S.responding, S.resolved, S.closed, S.closed_false_positive}
)
"""Entering one of these meets the acknowledgement deadline."""
RESOLVED = frozenset({S.resolved, S.closed, S.closed_false_positive})
"""Entering one of these meets the resolution deadline."""


def allowed_actions(status: IncidentStatus) -> dict[Action, IncidentStatus]:
    """The actions that apply in ``status``, each with the status it leads to."""
    return {a: to for (s, a), to in TRANSITIONS.items() if s is status}


class _Command(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Triage(_Command):
    action: Literal[Action.triage] = Action.triage


class HandOffTo(_Command):
    action: Literal[Action.hand_off] = Action.hand_off
    to_unit: str = Field(pattern=f"^{UNIT_NAME}$")
    note: str | None = Field(None, max_length=10_000)


class Recall(_Command):
    action: Literal[Action.recall] = Action.recall
    reason: str | None = Field(None, max_length=10_000)


class Accept(_Command):
    action: Literal[Action.accept] = Action.accept


class Reject(_Command):
    action: Literal[Action.reject] = Action.reject
    reason: str = Field(min_length=1, max_length=10_000, pattern=r"\S")


class StartResponse(_Command):
    action: Literal[Action.start_response] = Action.start_response


class Resolve(_Command):
    action: Literal[Action.resolve] = Action.resolve
    summary: str = Field(min_length=1, max_length=10_000, pattern=r"\S")


class Close(_Command):
    action: Literal[Action.close] = Action.close


class CloseFalsePositive(_Command):
    """Close as a false positive; alerts not yet judged are judged false positives."""

    action: Literal[Action.close_false_positive] = Action.close_false_positive
    reason: str = Field(min_length=1, max_length=10_000, pattern=r"\S")


class Reopen(_Command):
    action: Literal[Action.reopen] = Action.reopen
    reason: str = Field(min_length=1, max_length=10_000, pattern=r"\S")


class EndDrill(_Command):
    """Close a drill's incident when the drill ends; refused on a live incident."""

    action: Literal[Action.end_drill] = Action.end_drill


DRILL_ENDED = "drill ended"
"""The resolution of a drill's incidents closed by the drill's end."""


Command = Annotated[
    Triage
    | HandOffTo
    | Recall
    | Accept
    | Reject
    | StartResponse
    | Resolve
    | Close
    | CloseFalsePositive
    | Reopen
    | EndDrill,
    Field(discriminator="action"),
]
"""One status change, as the API's request body can carry it (``{"action": "reject", ...}``)."""


@dataclass(frozen=True, slots=True)
class Outcome:
    incident: Incident
    change: Change


def apply(incident: Incident, command: Command, *, actor: Actor, now: datetime) -> Outcome:
    """Take one status-changing action; NotAllowed, InvalidTransition or InvalidOperation."""
    action = command.action
    check(actor, action)  # the role first, then the table, then who owns the incident
    target = TRANSITIONS.get((incident.status, action))
    if target is None:
        raise InvalidTransition(
            status=incident.status, action=action, allowed=allowed_actions(incident.status)
        )
    check(actor, action, incident)
    update: dict[str, Any] = {"status": target, "updated": now}
    extra: dict[str, Any] = {}
    # A drill's end closes its incidents but is nobody's acknowledgement or resolution:
    # the scorecard measures those.
    measured = action is not A.end_drill
    if target in ACKNOWLEDGED and incident.acknowledged_at is None and measured:
        update["acknowledged_at"] = now
    if target in RESOLVED and incident.resolved_at is None and measured:
        update["resolved_at"] = now
    if target.is_closed:
        update["closed_at"] = now

    match command:
        case HandOffTo(to_unit=unit, note=note):
            if unit == incident.owner_unit:
                raise InvalidOperation(f"unit {unit} already owns this incident")
            offer = HandOff(
                to_unit=unit,
                from_unit=incident.owner_unit,
                from_user=incident.owner_user,
                by=actor.name,
                at=now,
                note=note,
            )
            update["handoffs"] = [*incident.handoffs, offer]
        case Accept():
            update["handoffs"] = _answer(incident, HandOffState.accepted, actor, now, None)
            update.update(owner_unit=actor.unit, owner_user=actor.name, assignee=actor.name)
        case Reject(reason=reason) | Recall(reason=reason):
            state = HandOffState.rejected if action is A.reject else HandOffState.recalled
            update["handoffs"] = _answer(incident, state, actor, now, reason)
        case Resolve(summary=summary):
            update["resolution"] = summary
        case CloseFalsePositive(reason=reason):
            update["resolution"] = reason
            update["alerts"] = [_judged(a) for a in incident.alerts]
        case EndDrill():
            if incident.drill is None:
                raise InvalidOperation("not a drill's incident")
            if incident.handoff is not None:
                update["handoffs"] = _answer(
                    incident, HandOffState.recalled, actor, now, DRILL_ENDED
                )
            if incident.resolution is None:
                update["resolution"] = DRILL_ENDED
        case Reopen(reason=reason):
            if incident.merged_into is not None:
                raise InvalidOperation(
                    f"merged into incident {incident.merged_into}; reopen that one"
                )
            update.update(resolved_at=None, closed_at=None, resolution=None)
            extra["reason"] = reason
        case _:
            pass
    after = rebuild(incident, **update)
    return Outcome(
        after, change(incident, after, actor=actor.name, action=action, time=now, extra=extra)
    )


def _answer(
    incident: Incident, state: HandOffState, actor: Actor, now: datetime, reason: str | None
) -> list[HandOff]:
    *earlier, pending = incident.handoffs
    decided = pending.model_copy(
        update={"state": state, "decided_by": actor.name, "decided_at": now, "reason": reason}
    )
    return [*earlier, decided]


def _judged(alert: AlertRef) -> AlertRef:
    if alert.verdict is Verdict.undetermined:
        return alert.model_copy(update={"verdict": Verdict.false_positive})
    return alert
