"""A real incident, worked as the desk works it, for the evidence tests.

The alerts are the project's rules over the bundled OTRF slice (one Windows
host attacked with Metasploit; see tests/unit/incidents/conftest.py), grouped
by host into one incident of 14 alerts and 11 rules. It is then triaged,
commented, handed off, rejected, handed off again, accepted, worked and
resolved, each step's Change sealed into one audit chain; the SSH brute force
of ../shared/datasets/linux/auth.log is opened and triaged in between, so the
incident's audit entries are an excerpt of the chain, as in the store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest

from soc.audit import AuditEntry, seal
from soc.evidence import RuleSource, rule_sources
from soc.incidents import casework, lifecycle
from soc.incidents.grouping import GroupingPolicy, group
from soc.incidents.models import Change, Comment, Incident
from soc.models import Alert, Event
from tests.unit.incidents import conftest as recorded
from tests.unit.incidents.conftest import (
    ANALYST,
    LEAD,
    NOW,
    RESPONDER,
    ROOT,
    UNIT,
    Recording,
)

# The recordings' fixtures, shared with the incidents tests (built once per session).
engine = recorded.engine
otrf = recorded.otrf
authlog = recorded.authlog
__all__ = ["NOW", "ROOT"]

RULES_DIRS = [ROOT / "soc/detections/rules"]
EXPORTED = datetime(2026, 11, 25, 8, 0, tzinfo=NOW.tzinfo)
BY_HOST = GroupingPolicy(keys=("host",))


@dataclass
class Case:
    incident: Incident
    alerts: list[Alert]
    events: list[Event]
    rules: list[RuleSource]
    comments: list[Comment]
    audit: list[AuditEntry]
    """The whole chain: this incident's entries and others'."""
    others: list[Incident] = field(default_factory=list)

    def bundle_args(self) -> dict[str, Any]:
        return {
            "incident": self.incident,
            "alerts": self.alerts,
            "events": self.events,
            "rules": self.rules,
            "comments": self.comments,
            "audit": self.audit,
            "created": EXPORTED,
            "created_by": LEAD.name,
        }


class _Chain:
    def __init__(self) -> None:
        self.entries: list[AuditEntry] = []

    def record(self, change: Change) -> None:
        self.entries.append(change.seal(self.entries[-1] if self.entries else None))

    def opened(self, incident: Incident) -> None:
        """What the grouping stage appends when it opens an incident (soc.stages.group)."""
        self.entries.append(
            seal(
                self.entries[-1] if self.entries else None,
                time=incident.created,
                actor="system",
                tenant=incident.tenant,
                action="incident.open",
                target=f"incident:{incident.id}",
                after={
                    "title": incident.title,
                    "severity": incident.severity.value,
                    "alerts": incident.alert_ids,
                    "group_values": incident.group_values,
                },
            )
        )


def _at(minutes: int) -> datetime:
    return NOW + timedelta(minutes=minutes)


@pytest.fixture(scope="session")
def case(otrf: Recording, authlog: Recording) -> Case:
    (incident,) = group(
        otrf.alerts, open_incidents=[], policy=BY_HOST, now=NOW, events=otrf.by_id
    ).changed
    ssh = group(
        authlog.alerts[:40], open_incidents=[], policy=BY_HOST, now=NOW, events=authlog.by_id
    ).changed
    chain = _Chain()
    chain.opened(incident)
    for other in ssh:
        chain.opened(other)
    comments = []

    def act(command: lifecycle.Command, actor: Any, minutes: int) -> None:
        nonlocal incident
        out = lifecycle.apply(incident, command, actor=actor, now=_at(minutes))
        incident = out.incident
        chain.record(out.change)

    act(lifecycle.Triage(), ANALYST, 5)
    chain.record(lifecycle.apply(ssh[0], lifecycle.Triage(), actor=ANALYST, now=_at(6)).change)
    note = casework.comment(
        incident, "Payload tải về từ 10.0.5.13, LSASS bị đọc.", actor=ANALYST, now=_at(7)
    )
    comments.append(note.comment)
    chain.record(note.change)
    act(lifecycle.HandOffTo(to_unit="cyber-south", note="LSASS dump on MKT01"), ANALYST, 10)
    act(lifecycle.Recall(reason="wrong unit"), ANALYST, 12)
    act(lifecycle.HandOffTo(to_unit=UNIT, note="LSASS dump on MKT01"), ANALYST, 13)
    act(lifecycle.Reject(reason="need the host's owner first"), RESPONDER, 20)
    act(lifecycle.HandOffTo(to_unit=UNIT, note="owner: marketing"), ANALYST, 25)
    act(lifecycle.Accept(), RESPONDER, 30)
    note = casework.comment(incident, "Host isolated.", actor=RESPONDER, now=_at(40))
    comments.append(note.comment)
    chain.record(note.change)
    act(lifecycle.StartResponse(), RESPONDER, 41)
    act(lifecycle.Resolve(summary="Reimaged MKT01, reset stevie.marie"), RESPONDER, 90)
    events = list({e.id: e for e in map(otrf.event_of, otrf.alerts)}.values())
    rules = rule_sources({a.rule_id for a in otrf.alerts}, RULES_DIRS)
    return Case(
        incident=incident,
        alerts=list(otrf.alerts),
        events=events,
        rules=list(rules.values()),
        comments=comments,
        audit=chain.entries,
        others=ssh,
    )
