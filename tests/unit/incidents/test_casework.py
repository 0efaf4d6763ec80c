"""Assignment, verdicts, tags and comments: checked, recorded, never in place."""

from __future__ import annotations

import pytest

from soc.incidents.casework import assign, comment, set_verdict, tag
from soc.incidents.errors import InvalidOperation, NotAllowed
from soc.incidents.models import Comment, IncidentStatus, Verdict
from tests.unit.incidents.conftest import (
    ANALYST,
    OTHER_RESPONDER,
    RESPONDER,
    UNIT,
    VIEWER,
    incident,
    later,
    ref,
)


def test_assign_records_before_and_after() -> None:
    inc = incident()
    out = assign(inc, "bob", actor=ANALYST, now=later(1))
    assert out.incident.assignee == "bob" and inc.assignee is None
    assert out.change.before == {"assignee": None} and out.change.after == {"assignee": "bob"}
    assert assign(out.incident, None, actor=ANALYST, now=later(2)).incident.assignee is None
    with pytest.raises(InvalidOperation):
        assign(inc, "  ", actor=ANALYST, now=later(1))
    with pytest.raises(InvalidOperation, match="reopen"):
        assign(incident(IncidentStatus.closed), "bob", actor=ANALYST, now=later(1))
    with pytest.raises(NotAllowed):
        assign(inc, "bob", actor=VIEWER, now=later(1))


def test_a_unit_assigns_within_its_own_incidents_only() -> None:
    owned = incident(IncidentStatus.acknowledged, owner_unit=UNIT)
    assert assign(owned, "rosa", actor=RESPONDER, now=later(1)).incident.assignee == "rosa"
    with pytest.raises(NotAllowed):
        assign(owned, "otto", actor=OTHER_RESPONDER, now=later(1))
    with pytest.raises(NotAllowed):
        assign(owned, "bob", actor=ANALYST, now=later(1))


def test_verdicts_on_named_alerts_even_after_closing() -> None:
    inc = incident(IncidentStatus.closed, alerts=[ref(1), ref(2)])
    out = set_verdict(inc, ["alert-2"], Verdict.false_positive, actor=ANALYST, now=later(1))
    assert [a.verdict for a in out.incident.alerts] == [
        Verdict.undetermined,
        Verdict.false_positive,
    ]
    assert out.change.after == {"alerts": {"alert-1": "undetermined", "alert-2": "false_positive"}}
    with pytest.raises(InvalidOperation, match="not in incident"):
        set_verdict(inc, ["alert-9"], Verdict.true_positive, actor=ANALYST, now=later(1))
    with pytest.raises(InvalidOperation):
        set_verdict(inc, [], Verdict.true_positive, actor=ANALYST, now=later(1))


def test_tags_are_added_removed_and_checked() -> None:
    inc = incident()
    out = tag(inc, add=["case:2026-114", "attack.t1003.001"], actor=ANALYST, now=later(1))
    assert out.incident.tags == ["attack.t1003.001", "case:2026-114"]
    out = tag(out.incident, remove=["case:2026-114"], actor=ANALYST, now=later(2))
    assert out.incident.tags == ["attack.t1003.001"]
    with pytest.raises(InvalidOperation, match="not a tag"):
        tag(inc, add=["<script>"], actor=ANALYST, now=later(1))


def test_comments_are_separate_records_with_stable_ids() -> None:
    inc = incident()
    out = comment(inc, "Called the site; host isolated.", actor=ANALYST, now=later(1))
    c = out.comment
    assert (c.incident_id, c.author, c.at, c.tenant) == (inc.id, "ana", later(1), inc.tenant)
    assert c.id == Comment.make_id(
        incident_id=inc.id, author="ana", at=later(1), text="Called the site; host isolated."
    )
    assert out.change.action == "incident.comment" and out.change.after["comment"] == c.id
    owned = incident(IncidentStatus.responding, owner_unit=UNIT)
    assert comment(owned, "seen", actor=ANALYST, now=later(2)).comment.author == "ana"
    for bad in ("", "   ", "x" * 20_001):
        with pytest.raises(InvalidOperation):
            comment(inc, bad, actor=ANALYST, now=later(1))
    with pytest.raises(NotAllowed):
        comment(inc, "hi", actor=VIEWER, now=later(1))
