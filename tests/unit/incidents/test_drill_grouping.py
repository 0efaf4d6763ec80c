"""Drills' alerts group apart: never into a live incident, nor another drill's.

The recorded OTRF attack (conftest ``otrf``) is replayed as a drill would replay it: the
same records with ``origin.drill`` set, detected by the same rules (make_alert carries
the drill). Same rule, same host, same minutes: still one incident per drill and one live.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from soc.detect.engine import Engine
from soc.incidents.casework import assign, comment
from soc.incidents.errors import InvalidOperation
from soc.incidents.grouping import GroupingPolicy, group
from soc.incidents.lifecycle import Triage, apply
from soc.incidents.merge import merge, move_alerts
from soc.incidents.models import Incident
from soc.ingest.normalize import normalize
from soc.models import Origin
from tests.unit.incidents.conftest import ANALYST, LEAD, NOW, RECEIVED, TENANT, Recording, _detect

POLICY = GroupingPolicy()


def replay(engine: Engine, live: Recording, drill: str | None) -> Recording:
    """The recording's records sent again as one numbered stream, for ``drill``."""
    events = [
        normalize(
            e.raw,
            tenant=TENANT,
            source="sample:otrf-lsass",
            received=RECEIVED,
            origin=Origin(connector="replay", source="otrf", stream="slice", seq=i, drill=drill),
        )
        for i, e in enumerate(live.events)
    ]
    return _detect(engine, events)


@pytest.fixture(scope="module")
def drills(engine: Engine, otrf: Recording) -> dict[str | None, Recording]:
    return {d: replay(engine, otrf, d) for d in (None, "d1", "d2")}


def incidents_by(incidents: list[Incident]) -> dict[tuple[str | None, str | None], Incident]:
    out = {}
    for i in incidents:
        key = (i.drill, i.group_values["rule_id"])
        assert key not in out, "one incident per rule and host for each drill and for live"
        out[key] = i
    return out


def test_a_drill_alert_and_a_live_alert_of_one_rule_and_host_open_two_incidents(
    drills: dict[str | None, Recording], otrf: Recording
) -> None:
    live, drill = drills[None], drills["d1"]
    assert all(a.drill is None for a in live.alerts) and all(a.drill == "d1" for a in drill.alerts)
    assert {(a.rule_id, a.host, a.time) for a in live.alerts} == {
        (a.rule_id, a.host, a.time) for a in drill.alerts
    }
    both = group(
        [*live.alerts, *drill.alerts],
        open_incidents=[],
        policy=POLICY,
        now=NOW,
        events={**live.by_id, **drill.by_id},
    )
    made = incidents_by(both.changed)
    rules = {a.rule_id for a in otrf.alerts}
    assert len(rules) == 11 and set(made) == {(d, r) for d in (None, "d1") for r in rules}
    for (d, _rule), incident in made.items():
        mine = live if d is None else drill
        assert set(incident.alert_ids) <= {a.id for a in mine.alerts}
        assert incident.group_values == made[(None, _rule)].group_values
    # Live incidents keep the key and the id they had before drills existed.
    alone = group(live.alerts, open_incidents=[], policy=POLICY, now=NOW, events=live.by_id)
    assert {i.id for i in alone.changed} == {i.id for i in both.changed if i.drill is None}
    assert {i.group_key for i in alone.changed} == {
        i.group_key for i in both.changed if i.drill is None
    }


def test_alerts_later_in_the_window_fold_only_into_their_own_drills_incident(
    drills: dict[str | None, Recording],
) -> None:
    """Open drill and live incidents side by side: each later alert finds its own."""
    first = group(
        [*drills[None].alerts, *drills["d1"].alerts],
        open_incidents=[],
        policy=POLICY,
        now=NOW,
        events={**drills[None].by_id, **drills["d1"].by_id},
    )
    later = [
        a.model_copy(
            update={"id": f"{a.id}-later", "event_id": "x", "time": a.time + timedelta(minutes=20)}
        )
        for d in (None, "d1", "d2")
        for a in drills[d].alerts
    ]
    second = group(later, open_incidents=first.open, policy=POLICY, now=NOW)
    grown = incidents_by(second.changed)
    assert {d for d, _ in grown} == {None, "d1", "d2"}
    opened = {i.id for i in second.changed if i.id in second.created}
    assert {grown[k].id for k in grown if k[0] == "d2"} == opened, "the second drill's are new"
    for incident in second.changed:
        assert all(
            (a.id.removesuffix("-later") in {x.id for x in drills[incident.drill].alerts})
            for a in incident.alerts
        )


def test_two_drills_of_the_same_records_open_two_incidents_each_rule(
    drills: dict[str | None, Recording],
) -> None:
    result = group(
        [*drills["d1"].alerts, *drills["d2"].alerts],
        open_incidents=[],
        policy=POLICY,
        now=NOW,
        events={**drills["d1"].by_id, **drills["d2"].by_id},
    )
    made = incidents_by(result.changed)
    assert len(made) == 22 and {d for d, _ in made} == {"d1", "d2"}
    assert len({i.group_key for i in result.changed}) == 22


def test_every_change_and_comment_of_a_drills_incident_names_the_drill(
    drills: dict[str | None, Recording],
) -> None:
    made = group(drills["d1"].alerts, open_incidents=[], policy=POLICY, now=NOW).changed
    incident = made[0].model_copy(update={"version": 1})
    triaged = apply(incident, Triage(), actor=ANALYST, now=NOW)
    assert triaged.change.after["drill"] == triaged.change.before["drill"] == "d1"
    assigned = assign(triaged.incident, "ana", actor=ANALYST, now=NOW)
    assert assigned.change.after["drill"] == assigned.change.before["drill"] == "d1"
    note = comment(assigned.incident, "drill: looked at it", actor=ANALYST, now=NOW)
    assert note.comment.drill == "d1"
    assert note.change.after == {"comment": note.comment.id, "text": note.comment.text} | {
        "drill": "d1"
    }
    merged = merge(made[1], [made[2]], actor=LEAD, now=NOW)
    assert all(c.after["drill"] == "d1" for c in merged.changes)
    live = group(drills[None].alerts, open_incidents=[], policy=POLICY, now=NOW).changed
    live_change = apply(live[0], Triage(), actor=ANALYST, now=NOW).change
    assert "drill" not in live_change.after and "drill" not in live_change.before


def test_drill_and_live_incidents_neither_merge_nor_share_alerts(
    drills: dict[str | None, Recording],
) -> None:
    drill = group(drills["d1"].alerts, open_incidents=[], policy=POLICY, now=NOW).changed
    other = group(drills["d2"].alerts, open_incidents=[], policy=POLICY, now=NOW).changed
    live = group(drills[None].alerts, open_incidents=[], policy=POLICY, now=NOW).changed
    with pytest.raises(InvalidOperation, match="drill"):
        merge(live[0], [drill[0]], actor=LEAD, now=NOW)
    with pytest.raises(InvalidOperation, match="drill"):
        merge(drill[0], [other[0]], actor=LEAD, now=NOW)
    several = next(i for i in drill if i.alert_count > 1)
    with pytest.raises(InvalidOperation, match="drill"):
        move_alerts(several, live[0], [several.alert_ids[0]], actor=LEAD, now=NOW)
