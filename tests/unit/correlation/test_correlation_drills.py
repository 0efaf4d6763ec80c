"""A drill's matches never share a correlation window with live matches or another drill's.

The recorded SSH brute force (tests/correlating.py) is replayed as a drill replays it: the
same auth.log records with ``origin.drill`` set. Their matches carry the drill, are kept
under their own group key, and the correlation alerts they raise carry it too (with ids of
their own); the live stream's alerts are exactly what they are without the drill.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from soc.detect.correlation.catalog import Correlations
from soc.detect.correlation.evaluate import Evaluator, Snapshot
from soc.detect.engine import Engine
from soc.ingest.normalize import normalize
from soc.models import Alert, Event, Origin
from soc.settings import CorrelationSettings
from soc.stages.correlate import changelog_records, restored_state
from tests.correlating import (
    ATTACKER,
    BRUTE_FORCE,
    BRUTE_FORCE_ID,
    SLOW_GUESSING,
    TENANT,
    auth_events,
    engine_with,
    matches_of,
    one_pass,
)

SETTINGS = CorrelationSettings(allowed_lateness_s=60)


def replayed(events: list[Event], drill: str | None) -> list[Event]:
    """The events' records sent again by a replay connector, as one numbered stream."""
    return [
        normalize(
            e.raw,
            tenant=TENANT,
            source=e.source,
            received=e.received,
            host=e.host,
            time=e.time,
            logsource=e.logsource,
            origin=Origin(connector="replay", source="auth", stream="auth.log", seq=i, drill=drill),
        )
        for i, e in enumerate(events)
    ]


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    return engine_with(tmp_path_factory.mktemp("rules"), BRUTE_FORCE, SLOW_GUESSING)


@pytest.fixture(scope="module")
def events(shared_dir: Path) -> list[Event]:
    return auth_events(shared_dir)


def test_drill_matches_and_live_matches_of_one_window_do_not_meet(
    engine: Engine, events: list[Event]
) -> None:
    """Twelve failures of one address in ten minutes, half live and half a drill's: the
    brute-force correlation (10 in 10 minutes) fires on neither half; on all twelve live, it
    does."""
    by_event = {e.id: e for e in events}
    attacker = sorted(
        (m for m in matches_of(engine, events) if m.correlation_id == BRUTE_FORCE_ID),
        key=lambda m: m.time,
    )
    attacker = [m for m in attacker if m.group == (ATTACKER,)]
    start = next(
        i
        for i in range(len(attacker) - 11)
        if attacker[i + 11].time - attacker[i].time <= timedelta(minutes=10)
    )
    twelve = [by_event[m.event_ids[0]] for m in attacker[start : start + 12]]
    live, drill = twelve[0::2], replayed(twelve[1::2], "d1")
    matches = matches_of(engine, live) + matches_of(engine, drill)
    assert {m.drill for m in matches} == {None, "d1"}
    apart = one_pass(engine, matches, SETTINGS)
    assert BRUTE_FORCE_ID not in {a.rule_id for a in apart.values()}
    together = one_pass(engine, matches_of(engine, twelve), SETTINGS)
    assert BRUTE_FORCE_ID in {a.rule_id for a in together.values()}


def test_a_drill_replay_beside_the_live_stream_raises_its_own_alerts_with_its_drill(
    engine: Engine, events: list[Event]
) -> None:
    live_only = one_pass(engine, matches_of(engine, events), SETTINGS)
    drill = replayed(events, "d1")
    drill_only = one_pass(engine, matches_of(engine, drill), SETTINGS)
    other = one_pass(engine, matches_of(engine, replayed(events, "d2")), SETTINGS)
    assert live_only and all(a.drill is None for a in live_only.values())
    assert all(a.drill == "d1" for a in drill_only.values())
    assert not set(live_only) & set(drill_only) and not set(drill_only) & set(other)
    assert sorted(map(shape, live_only.values())) == sorted(map(shape, drill_only.values()))
    drill_events = {e.id for e in drill}
    for a in drill_only.values():
        assert a.correlation is not None and set(a.correlation.event_ids) <= drill_events
    mixed = one_pass(engine, matches_of(engine, events) + matches_of(engine, drill), SETTINGS)
    assert set(mixed) == set(live_only) | set(drill_only)
    assert {k: a.drill for k, a in mixed.items()} == {
        **{k: None for k in live_only},
        **{k: "d1" for k in drill_only},
    }


def shape(alert: Alert) -> str:
    """What a correlation alert says apart from its ids: rule, window start, group, figure
    (which of the matches of one second ends it follows the alert ids, drills' are others)."""
    assert alert.correlation is not None
    c = alert.correlation
    return f"{alert.rule_id} {c.window_start} {c.group} {c.value}"


def test_drill_groups_survive_the_changelog_and_a_restore(
    engine: Engine, events: list[Event]
) -> None:
    """The correlation stage's checkpoint keeps a drill's groups apart from the live ones."""
    catalog = Correlations(engine.correlations)
    matches = sorted(
        matches_of(engine, events) + matches_of(engine, replayed(events, "d1")),
        key=lambda m: (m.time, m.alert_id),
    )
    whole = Evaluator(catalog, SETTINGS, track_changes=True)
    expected = whole.feed(matches)
    expected += whole.finish()
    cut = len(matches) // 2
    first = Evaluator(catalog, SETTINGS, track_changes=True)
    raised = []
    records = []
    for start in range(0, cut, 50):
        raised += first.feed(matches[start : min(start + 50, cut)])
        records += changelog_records(first.changes())
    snapshot, _, _ = restored_state([*records, ("position", b"1")])
    assert {g.drill for g in snapshot.groups} == {None, "d1"}
    saved = Snapshot.model_validate_json(snapshot.model_dump_json())
    second = Evaluator.restore(catalog, saved, SETTINGS)
    raised += second.feed(matches[cut:])
    raised += second.finish()
    assert sorted(a.id for a in raised) == sorted(a.id for a in expected)
    assert {a.drill for a in raised} == {None, "d1"}
