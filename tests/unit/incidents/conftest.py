"""Real alerts for the incidents tests: the project's rules over recorded events, offline.

Two recordings, each turned into events and alerts exactly as the detector does
(normalize, Engine.match, make_alert):

- the bundled OTRF slice (soc/sample): one Windows host attacked with
  Metasploit, 14 alerts of 11 rules within six minutes;
- ../shared/datasets/linux/auth.log through the connector's auth-log parser:
  a month of one server's SSH brute force and sudo use, 1,328 alerts of 2 rules.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from connectors.parse._base import Defaults
from connectors.parse.linux_auth import parse_auth_line
from soc.detect.engine import Engine
from soc.detect.rule import make_alert
from soc.detect.rules import load_rules
from soc.incidents.models import Actor, AlertRef, HandOff, Incident, IncidentStatus
from soc.ingest.normalize import normalize
from soc.models import Alert, Event, Severity

ROOT = Path(__file__).resolve().parents[3]
RECEIVED = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
TENANT = "police-north"
UNIT = "cyber-north"


@dataclass(frozen=True)
class Recording:
    events: list[Event]
    alerts: list[Alert]

    @cached_property
    def by_id(self) -> dict[str, Event]:
        return {e.id: e for e in self.events}

    def event_of(self, alert: Alert) -> Event:
        return self.by_id[alert.event_id]


@pytest.fixture(scope="session")
def engine() -> Engine:
    ruleset = load_rules(
        [ROOT / "soc/detections/rules"],
        pipelines=[
            ROOT / "soc/detections/pipelines/windows.yml",
            ROOT / "soc/detections/pipelines/placeholders.yml",
        ],
    )
    assert ruleset.errors == ()
    # The rules the detector raises alerts for (not those Sigma's `generate` leaves silent),
    # and the SSH failure rule: silent since the SSH correlations count it, its matches are
    # kept here as the real flood of low alerts the grouping must fold.
    ssh_failure = "7be5b1cc-c45c-4d7e-b390-5c69d61d437f"
    return Engine([r for r in ruleset.rules if r.id not in ruleset.silent or r.id == ssh_failure])


def _detect(engine: Engine, events: list[Event]) -> Recording:
    alerts = [make_alert(rule, e) for e in events for rule in engine.match(e)]
    # make_alert stamps `created` with the wall clock; pin it so runs compare equal.
    return Recording(events, [a.model_copy(update={"created": RECEIVED}) for a in alerts])


@pytest.fixture(scope="session")
def otrf(engine: Engine) -> Recording:
    data = resources.files("soc.sample").joinpath("otrf_lsass_slice.ndjson.gz").read_bytes()
    records: list[dict[str, Any]] = [
        json.loads(line) for line in gzip.decompress(data).splitlines()
    ]
    events = [
        normalize(r, tenant=TENANT, source="sample:otrf-lsass", received=RECEIVED) for r in records
    ]
    return _detect(engine, events)


@pytest.fixture(scope="session")
def authlog(engine: Engine, shared_dir: Path) -> Recording:
    defaults = Defaults(now=datetime(2026, 6, 1, tzinfo=UTC))
    events = []
    for line in (shared_dir / "datasets/linux/auth.log").read_text().splitlines():
        ev = parse_auth_line(line, defaults=defaults)
        events.append(
            normalize(
                ev.record,
                tenant=TENANT,
                source="auth.log",
                received=RECEIVED,
                host=ev.host,
                time=ev.time,
                logsource=ev.logsource,
            )
        )
    return _detect(engine, events)


# Small, explicit incidents for the state machine.

ANALYST = Actor(name="ana", role="analyst")
LEAD = Actor(name="lee", role="lead")
VIEWER = Actor(name="vic", role="viewer")
ADMIN = Actor(name="adm", role="admin")
RESPONDER = Actor(name="rosa", role="responder", unit=UNIT)
OTHER_RESPONDER = Actor(name="otto", role="responder", unit="cyber-south")


def ref(i: int, severity: Severity = Severity.medium, minute: int = 0) -> AlertRef:
    return AlertRef(
        id=f"alert-{i}",
        rule_id="rule-a",
        severity=severity,
        time=datetime(2026, 11, 24, 9, minute, tzinfo=UTC),
        host="pc-1",
    )


def incident(
    status: IncidentStatus = IncidentStatus.new,
    *,
    id: str = "inc-1",
    tenant: str = TENANT,
    alerts: list[AlertRef] | None = None,
    owner_unit: str | None = None,
    pending_to: str | None = None,
    created: datetime = NOW,
) -> Incident:
    """An incident in ``status``; ``pending_to`` adds a pending hand-off."""
    refs = alerts if alerts is not None else [ref(1)]
    handoffs = []
    if pending_to is not None:
        handoffs.append(
            HandOff(to_unit=pending_to, from_unit=None, from_user=None, by="ana", at=created)
        )
    return Incident(
        id=id,
        tenant=tenant,
        title="t",
        severity=max((a.severity for a in refs), key=lambda s: s.rank),
        status=status,
        owner_unit=owner_unit,
        owner_user="rosa" if owner_unit else None,
        group_key="k",
        group_values={"rule_id": "rule-a"},
        alerts=refs,
        alert_count=len(refs),
        first_seen=min(a.time for a in refs),
        last_seen=max(a.time for a in refs),
        created=created,
        updated=created,
        handoffs=handoffs,
    )


def later(minutes: float) -> datetime:
    return NOW + timedelta(minutes=minutes)
