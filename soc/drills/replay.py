"""A scenario step's recorded events, made ready to send as a drill's.

    for planned in step_events(scenario, step, drill_id="drill-1"): ...
        planned.delay   seconds to wait after the previous event (recorded gap / speed)
        planned.event   the EventIn to post, once stamped with the moment it is sent

Each file is read as ``soc hunt`` reads it (soc.ingest.readers), its events put in
their recorded time order (recordings are not always in order), host names renamed
as the step says, and stamped with an origin naming the drill: connector
``soc-drill``, source the scenario, stream ``<step>/<file>``, ``seq`` the event's
place. So the same drill sends the same event ids if it is taken over after a crash,
and the store keeps each event once.

The recorded time stays in the record; the event's own time is given when it is
sent (:func:`stamped`), so a drill happens now and every duration the scorecard
measures is the SOC's own clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from soc.drills.scenario import Scenario, Step
from soc.ingest.ndjson import as_event_in
from soc.ingest.normalize import NormalizeError, recorded_time
from soc.ingest.readers import read_file
from soc.models import EventIn, Origin

CONNECTOR = "soc-drill"


@dataclass(frozen=True, slots=True)
class Planned:
    delay: float
    event: EventIn


def _rename_value(value: Any, renames: dict[str, str]) -> Any:
    if isinstance(value, str):
        new = renames.get(value.lower())
        if new is not None:
            return new
        lowered = value.lower()
        for old, repl in renames.items():
            i = lowered.find(old)
            while i >= 0:
                value = value[:i] + repl + value[i + len(old) :]
                lowered = value.lower()
                i = lowered.find(old, i + len(repl))
        return value
    if isinstance(value, dict):
        return {k: _rename_value(v, renames) for k, v in value.items()}
    if isinstance(value, list):
        return [_rename_value(v, renames) for v in value]
    return value


def renamed(event: EventIn, hosts: dict[str, str]) -> EventIn:
    """The event with every recorded host name replaced, in its fields and its text."""
    if not hosts:
        return event
    # longest first, so that a full name is renamed before its short form (MKT01.x, MKT01)
    renames = {old.lower(): new for old, new in sorted(hosts.items(), key=lambda kv: -len(kv[0]))}
    host = renames.get(event.host.lower(), event.host) if event.host else None
    return event.model_copy(update={"record": _rename_value(event.record, renames), "host": host})


def _when(event: EventIn) -> datetime | None:
    if event.time is not None:
        return event.time
    try:
        return recorded_time(event.record)
    except NormalizeError:
        return None


def step_events(scenario: Scenario, step: Step, *, drill_id: str) -> Iterator[Planned]:
    """The step's events in recorded order, with the pause before each (the first one's
    pause is the step's ``start_after``)."""
    max_gap = scenario.max_gap.total_seconds()
    first = True
    for replay in step.replay:
        read: list[tuple[datetime | None, int, EventIn]] = []
        for position, item in enumerate(read_file(scenario.path_of(replay))):
            if item.record is None:  # unreadable: the scenario's tests refuse such files
                continue
            event = renamed(as_event_in(item.record), step.hosts)
            if event.host is None and step.host is not None:
                event = event.model_copy(update={"host": step.host})
            read.append((_when(event), position, event))
        known = sorted((t, p, e) for t, p, e in read if t is not None)
        ordered = known + [(t, p, e) for t, p, e in read if t is None]
        previous: datetime | None = None
        for seq, (when, _, event) in enumerate(ordered):
            if first:
                delay = step.start_after.total_seconds()
                first = False
            elif when is None or previous is None:
                delay = 0.0
            else:
                delay = min(max((when - previous).total_seconds(), 0.0) / scenario.speed, max_gap)
            previous = when or previous
            origin = Origin(
                connector=CONNECTOR,
                source=scenario.id,
                stream=f"{step.name}/{replay.file}",
                seq=seq,
                drill=drill_id,
            )
            yield Planned(delay, event.model_copy(update={"origin": origin}))


def with_speed(scenario: Scenario, speed: float | None) -> Scenario:
    return scenario if speed is None else scenario.model_copy(update={"speed": speed})


def recorded_span(scenario: Scenario) -> timedelta:
    """How long the replay of every step takes at the scenario's speed (pauses included)."""
    total = sum(
        (p.delay for s in scenario.steps for p in step_events(scenario, s, drill_id="span")),
        0.0,
    )
    return timedelta(seconds=total)
