"""The incident state machine: every allowed and every refused transition, and hand-off."""

from __future__ import annotations

import itertools

import pytest
from pydantic import TypeAdapter, ValidationError

from soc.audit import AuditEntry, verify
from soc.incidents.errors import InvalidOperation, InvalidTransition, NotAllowed
from soc.incidents.lifecycle import (
    DRILL_ENDED,
    TRANSITIONS,
    Accept,
    Close,
    CloseFalsePositive,
    Command,
    EndDrill,
    HandOffTo,
    Recall,
    Reject,
    Reopen,
    Resolve,
    StartResponse,
    Triage,
    allowed_actions,
    apply,
)
from soc.incidents.models import Actor, HandOffState, Incident, IncidentStatus, Verdict
from soc.incidents.permissions import ROLE_ACTIONS, Action, check
from tests.unit.incidents.conftest import (
    ADMIN,
    ANALYST,
    LEAD,
    NOW,
    OTHER_RESPONDER,
    RESPONDER,
    UNIT,
    VIEWER,
    incident,
    later,
    ref,
)

S = IncidentStatus
A = Action

COMMANDS: dict[Action, Command] = {
    A.triage: Triage(),
    A.hand_off: HandOffTo(to_unit=UNIT, note="suspected credential theft"),
    A.recall: Recall(reason="no answer"),
    A.accept: Accept(),
    A.reject: Reject(reason="not a police matter"),
    A.start_response: StartResponse(),
    A.resolve: Resolve(summary="host reimaged"),
    A.close: Close(),
    A.close_false_positive: CloseFalsePositive(reason="admin's backup job"),
    A.reopen: Reopen(reason="attacker came back"),
    A.end_drill: EndDrill(),
}
STATUS_ACTIONS = list(COMMANDS)

EXPECTED = {
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
    # a drill's end closes its incidents whatever their open status (soc.drills)
    (S.new, A.end_drill): S.closed,
    (S.triaged, A.end_drill): S.closed,
    (S.handed_off, A.end_drill): S.closed,
    (S.acknowledged, A.end_drill): S.closed,
    (S.responding, A.end_drill): S.closed,
    (S.resolved, A.end_drill): S.closed,
}
"""The issue's flow, written out independently of the module's table."""


def setting(status: IncidentStatus, action: Action) -> tuple[Incident, Actor]:
    """An incident in ``status`` as it would be there, and an actor entitled to ``action``."""
    pending = UNIT if status is S.handed_off else None
    owner = UNIT if status in (S.acknowledged,) else None
    inc = incident(status, pending_to=pending, owner_unit=owner)
    if action is A.end_drill:
        return inc.model_copy(update={"drill": "drill-1"}), LEAD
    if action in (A.accept, A.reject):
        return inc, RESPONDER
    if owner is not None and action in ROLE_ACTIONS["responder"]:
        return inc, RESPONDER
    if owner is None and action in ROLE_ACTIONS["analyst"]:
        return inc, ANALYST
    return inc, LEAD


def test_the_table_is_the_issues_flow() -> None:
    assert dict(TRANSITIONS) == EXPECTED


@pytest.mark.parametrize(("status", "action"), list(EXPECTED), ids=lambda v: str(v))
def test_every_allowed_transition(status: IncidentStatus, action: Action) -> None:
    inc, actor = setting(status, action)
    out = apply(inc, COMMANDS[action], actor=actor, now=later(5))
    assert out.incident.status is EXPECTED[status, action]
    assert out.incident.updated == later(5)
    assert out.change.action == f"incident.{action.value}"
    assert out.change.target == f"incident:{inc.id}"
    assert out.change.actor == actor.name
    assert out.change.before["status"] == status.value
    assert out.change.after["status"] == EXPECTED[status, action].value
    assert inc.status is status, "the incident given must not change"


REFUSED = [
    (s, a) for s, a in itertools.product(IncidentStatus, STATUS_ACTIONS) if (s, a) not in EXPECTED
]


@pytest.mark.parametrize(("status", "action"), REFUSED, ids=lambda v: str(v))
def test_every_other_transition_is_refused_with_the_allowed_ones(
    status: IncidentStatus, action: Action
) -> None:
    inc, actor = setting(status, action)
    with pytest.raises(InvalidTransition) as info:
        apply(inc, COMMANDS[action], actor=actor, now=later(5))
    err = info.value
    assert err.status is status and err.action is action
    assert err.allowed == {a: to for (s, a), to in EXPECTED.items() if s is status}
    assert err.allowed == allowed_actions(status)
    assert f"cannot {action.value} an incident that is {status.value}" in str(err)
    for a, to in err.allowed.items():
        assert f"{a.value} -> {to.value}" in str(err)


def test_no_dead_ends_every_status_reachable_and_closable() -> None:
    graph: dict[IncidentStatus, set[IncidentStatus]] = {s: set() for s in IncidentStatus}
    for (s, _), to in TRANSITIONS.items():
        graph[s].add(to)

    def reachable(start: IncidentStatus) -> set[IncidentStatus]:
        seen, todo = {start}, [start]
        while todo:
            for nxt in graph[todo.pop()] - seen:
                seen.add(nxt)
                todo.append(nxt)
        return seen

    assert reachable(S.new) == set(IncidentStatus)
    for status in IncidentStatus:
        assert reachable(status) & {S.closed, S.closed_false_positive}, status


def test_the_whole_path_with_hand_off_transfers_ownership_and_stamps_times() -> None:
    inc = incident()
    steps: list[tuple[Command, Actor, IncidentStatus]] = [
        (Triage(), ANALYST, S.triaged),
        (HandOffTo(to_unit=UNIT, note="LSASS dump on pc-1"), ANALYST, S.handed_off),
        (Accept(), RESPONDER, S.acknowledged),
        (StartResponse(), RESPONDER, S.responding),
        (Resolve(summary="credentials reset, host reimaged"), RESPONDER, S.resolved),
        (Close(), LEAD, S.closed),
    ]
    changes = []
    for minute, (command, actor, status) in enumerate(steps, start=1):
        out = apply(inc, command, actor=actor, now=later(minute))
        inc = out.incident
        changes.append(out.change)
        assert inc.status is status
        if status is S.handed_off:
            assert inc.owner_unit is None, "the SOC owns it until the unit accepts"
            assert inc.handoff is not None and inc.handoff.to_unit == UNIT
            assert inc.handoff.by == "ana" and inc.handoff.note == "LSASS dump on pc-1"
    assert inc.owner_unit == UNIT and inc.owner_user == "rosa" and inc.assignee == "rosa"
    assert inc.handoffs[-1].state is HandOffState.accepted
    assert inc.handoffs[-1].decided_by == "rosa" and inc.handoffs[-1].decided_at == later(3)
    assert inc.acknowledged_at == later(3)
    assert inc.resolved_at == later(5) and inc.closed_at == later(6)
    assert inc.resolution == "credentials reset, host reimaged"
    # The changes make a valid audit chain.
    entries: list[AuditEntry] = []
    for c in changes:
        entries.append(c.seal(entries[-1] if entries else None))
    report = verify(entries)
    assert report.ok and report.entries == len(steps)
    assert entries[2].action == "incident.accept" and (entries[2].after or {})["owner_unit"] == UNIT


def test_only_analysts_and_leads_hand_off() -> None:
    for role, actions in ROLE_ACTIONS.items():
        assert (A.hand_off in actions) == (role in ("analyst", "lead")), role
    inc = incident(S.triaged)
    for actor in (VIEWER, ADMIN, RESPONDER):
        with pytest.raises(NotAllowed, match="may not hand_off"):
            apply(inc, COMMANDS[A.hand_off], actor=actor, now=NOW)
    assert apply(inc, COMMANDS[A.hand_off], actor=LEAD, now=NOW).incident.status is S.handed_off


def test_only_a_responder_of_the_receiving_unit_answers() -> None:
    inc = incident(S.handed_off, pending_to=UNIT)
    for actor in (OTHER_RESPONDER, ANALYST, LEAD, ADMIN, VIEWER):
        for command in (Accept(), Reject(reason="no")):
            with pytest.raises(NotAllowed):
                apply(inc, command, actor=actor, now=NOW)
    assert apply(inc, Accept(), actor=RESPONDER, now=NOW).incident.owner_unit == UNIT


def test_rejection_needs_a_reason_and_returns_the_incident_to_the_soc() -> None:
    adapter: TypeAdapter[Command] = TypeAdapter(Command)
    for reason in ("", "   "):
        with pytest.raises(ValidationError):
            adapter.validate_python({"action": "reject", "reason": reason})
    with pytest.raises(ValidationError):
        adapter.validate_python({"action": "reject"})

    inc = incident(S.triaged)
    inc = apply(inc, HandOffTo(to_unit=UNIT), actor=ANALYST, now=later(1)).incident
    out = apply(inc, Reject(reason="outside our district"), actor=RESPONDER, now=later(2))
    back = out.incident
    assert back.status is S.triaged
    assert back.owner_unit is None and back.owner_user is None
    assert back.handoff is None
    assert back.handoffs[-1].state is HandOffState.rejected
    assert back.handoffs[-1].reason == "outside our district"
    assert back.handoffs[-1].decided_by == "rosa"
    assert back.acknowledged_at is None, "a rejection acknowledges nothing"
    assert out.change.after["handoffs"][-1]["reason"] == "outside our district"

    # Offered again, to another unit, which accepts: the history keeps both.
    again = apply(back, HandOffTo(to_unit="cyber-south"), actor=ANALYST, now=later(3)).incident
    taken = apply(again, Accept(), actor=OTHER_RESPONDER, now=later(4)).incident
    assert [h.state for h in taken.handoffs] == [HandOffState.rejected, HandOffState.accepted]
    assert taken.owner_unit == "cyber-south"


def test_recall_withdraws_a_pending_hand_off() -> None:
    inc = apply(incident(S.triaged), HandOffTo(to_unit=UNIT), actor=ANALYST, now=NOW).incident
    back = apply(inc, Recall(reason="unit unreachable"), actor=LEAD, now=later(1)).incident
    assert back.status is S.triaged and back.handoff is None
    assert back.handoffs[-1].state is HandOffState.recalled
    with pytest.raises(NotAllowed):
        apply(inc, Recall(), actor=RESPONDER, now=later(1))


def test_hand_off_to_the_owning_unit_is_refused() -> None:
    inc = incident(S.triaged, owner_unit=UNIT)
    with pytest.raises(InvalidOperation, match="already owns"):
        apply(inc, HandOffTo(to_unit=UNIT), actor=LEAD, now=NOW)
    moved = apply(inc, HandOffTo(to_unit="cyber-south"), actor=LEAD, now=NOW).incident
    assert moved.handoff is not None and moved.handoff.from_unit == UNIT
    assert moved.owner_unit == UNIT, "the offering unit owns it until the other accepts"
    back = apply(moved, Reject(reason="not ours"), actor=OTHER_RESPONDER, now=NOW).incident
    assert back.status is S.triaged and back.owner_unit == UNIT
    taken = apply(moved, Accept(), actor=OTHER_RESPONDER, now=NOW).incident
    assert (taken.owner_unit, taken.owner_user) == ("cyber-south", "otto")


def test_while_a_unit_owns_it_the_analyst_only_comments_and_judges() -> None:
    inc = incident(S.responding, owner_unit=UNIT)
    with pytest.raises(NotAllowed, match="owns this incident"):
        apply(inc, Resolve(summary="done"), actor=ANALYST, now=NOW)
    with pytest.raises(NotAllowed, match="does not own"):
        apply(inc, Resolve(summary="done"), actor=OTHER_RESPONDER, now=NOW)
    check(ANALYST, A.comment, inc)
    check(ANALYST, A.verdict, inc)
    assert apply(inc, Resolve(summary="done"), actor=LEAD, now=NOW).incident.status is S.resolved
    assert apply(inc, Resolve(summary="x"), actor=RESPONDER, now=NOW).incident.status is S.resolved


def test_a_responder_cannot_act_on_the_socs_incidents() -> None:
    with pytest.raises(NotAllowed, match="does not own"):
        apply(incident(S.triaged), StartResponse(), actor=RESPONDER, now=NOW)


def test_viewer_may_do_nothing() -> None:
    assert ROLE_ACTIONS["viewer"] == frozenset()
    for action in Action:
        with pytest.raises(NotAllowed):
            check(VIEWER, action)


def test_close_as_false_positive_judges_the_undetermined_alerts_only() -> None:
    alerts = [ref(1), ref(2).model_copy(update={"verdict": Verdict.true_positive})]
    inc = incident(S.triaged, alerts=alerts)
    out = apply(inc, CloseFalsePositive(reason="test account"), actor=ANALYST, now=later(1))
    assert [a.verdict for a in out.incident.alerts] == [
        Verdict.false_positive,
        Verdict.true_positive,
    ]
    assert out.incident.resolution == "test account"
    assert out.incident.resolved_at == out.incident.closed_at == later(1)
    assert out.change.after["alerts"] == {"alert-1": "false_positive", "alert-2": "true_positive"}


def test_reopen_clears_resolution_times_but_not_acknowledgement() -> None:
    inc = incident(S.responding)
    inc = apply(inc, Resolve(summary="x"), actor=ANALYST, now=later(1)).incident
    inc = apply(inc, Close(), actor=LEAD, now=later(2)).incident
    assert inc.acknowledged_at == later(1)
    with pytest.raises(NotAllowed):
        apply(inc, Reopen(reason="again"), actor=ANALYST, now=later(3))
    out = apply(inc, Reopen(reason="again"), actor=LEAD, now=later(3))
    assert out.incident.status is S.triaged
    assert out.incident.resolved_at is None and out.incident.closed_at is None
    assert out.incident.acknowledged_at == later(1)
    assert out.incident.resolution is None and out.change.before["resolution"] == "x"
    assert out.change.after["reason"] == "again"
    merged = inc.model_copy(update={"merged_into": "inc-2"})
    with pytest.raises(InvalidOperation, match="reopen that one"):
        apply(merged, Reopen(reason="again"), actor=LEAD, now=later(3))


def test_commands_parse_from_json_as_the_api_will_receive_them() -> None:
    adapter: TypeAdapter[Command] = TypeAdapter(Command)
    cmd = adapter.validate_json('{"action": "hand_off", "to_unit": "cyber-north", "note": "x"}')
    assert cmd == HandOffTo(to_unit="cyber-north", note="x")
    for bad in ('{"action": "hand_off", "to_unit": "../etc"}', '{"action": "explode"}'):
        with pytest.raises(ValidationError):
            adapter.validate_json(bad)


def test_only_a_lead_closes_a_resolved_incident() -> None:
    resolved = apply(
        incident(S.responding), Resolve(summary="x"), actor=ANALYST, now=later(1)
    ).incident
    for actor in (ANALYST, VIEWER, ADMIN):
        with pytest.raises(NotAllowed, match="may not close"):
            apply(resolved, Close(), actor=actor, now=later(2))
    assert apply(resolved, Close(), actor=LEAD, now=later(2)).incident.status is S.closed


def test_an_admin_sees_no_incident_and_so_takes_no_incident_action() -> None:
    assert ROLE_ACTIONS["admin"] == frozenset()


def test_a_drills_end_closes_without_counting_as_a_response_and_recalls_the_offer() -> None:
    inc = incident(S.handed_off, pending_to=UNIT).model_copy(update={"drill": "drill-1"})
    out = apply(inc, EndDrill(), actor=LEAD, now=later(5))
    closed = out.incident
    assert closed.status is S.closed and closed.closed_at == later(5)
    assert closed.resolution == DRILL_ENDED
    assert closed.acknowledged_at is None and closed.resolved_at is None
    offer = closed.handoffs[-1]
    assert (offer.state, offer.reason, offer.decided_by) == (
        HandOffState.recalled,
        DRILL_ENDED,
        LEAD.name,
    )
    assert out.change.action == "incident.end_drill"


def test_a_live_incident_is_not_closed_by_a_drills_end_and_only_a_lead_ends_drills() -> None:
    with pytest.raises(InvalidOperation, match="not a drill's incident"):
        apply(incident(S.triaged), EndDrill(), actor=LEAD, now=later(5))
    drill_incident = incident(S.triaged).model_copy(update={"drill": "drill-1"})
    with pytest.raises(NotAllowed):
        apply(drill_incident, EndDrill(), actor=ANALYST, now=later(5))
