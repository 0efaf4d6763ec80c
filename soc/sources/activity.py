"""What each source sent, as the event sink stores it: counts, last arrival, usual gaps.

One :class:`Activity` per (tenant, connector, source, stream) of the events' origin; an
event without origin counts under connector ``-`` and stream ``-`` of its ``source``,
and a drill's events never count (:func:`key_of`). Arrival times are the SOC's
(``received``). Kept: events and bytes per UTC hour (the last 25), events per minute
(the last 60, for the last hour), the first and last arrival, the gaps' histogram
(soc.sources.gaps) and the last few long silences (:data:`BREAKS`), so that a silence
alert can say how long the source was quiet once it speaks again.

Several event sinks each keep their own; :func:`merge` adds them up when read.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from soc.models import Event, UtcDatetime
from soc.sources import gaps as gapstats
from soc.sources.models import StreamKey

HOURS = 24
"""Hourly buckets shown (the sparkline); one more is kept while an hour turns."""
BREAKS = 16
"""Long silences kept per source (the most recent)."""
NO_ORIGIN = "-"
"""Connector and stream of the events sent without an origin."""


def key_of(event: Event) -> StreamKey | None:
    """Where ``event`` counts; None for a drill's event."""
    o = event.origin
    if o is None:
        return StreamKey(event.tenant, NO_ORIGIN, event.source, NO_ORIGIN)
    if o.drill is not None:
        return None
    return StreamKey(event.tenant, o.connector, o.source, o.stream)


def hour_of(t: datetime) -> int:
    return int(t.timestamp()) // 3600


def minute_of(t: datetime) -> int:
    return int(t.timestamp()) // 60


class Activity(BaseModel):
    """One source's arrivals, as one event sink (or all of them, merged) counted them."""

    model_config = ConfigDict(extra="forbid")

    version: int = 1
    tenant: str
    connector: str
    source: str
    stream: str
    first_event: UtcDatetime | None = None
    last_event: UtcDatetime | None = None
    events: int = Field(0, ge=0)
    """Every event counted, ever."""
    hours: dict[int, list[int]] = {}
    """UTC hour (seconds since the epoch // 3600) -> [events, bytes]."""
    minutes: dict[int, int] = {}
    """UTC minute -> events, for the last hour."""
    gaps: gapstats.Histogram = {}
    breaks: list[tuple[UtcDatetime, UtcDatetime]] = []
    """(last arrival before, first arrival after) of recent silences of at least the
    keeper's ``breaks_min_s``, oldest first."""

    @property
    def key(self) -> StreamKey:
        return StreamKey(self.tenant, self.connector, self.source, self.stream)

    @classmethod
    def of(cls, key: StreamKey) -> Activity:
        return cls(tenant=key.tenant, connector=key.connector, source=key.source, stream=key.stream)

    def observe(
        self, at: datetime, size: int, *, count: int = 1, breaks_min_s: float = 60.0
    ) -> None:
        """Count ``count`` events that arrived ``at`` (or within its second) and took
        ``size`` bytes together."""
        self.events += count
        ts = at.timestamp()
        hour, minute = int(ts) // 3600, int(ts) // 60
        h = self.hours.get(hour)
        if h is None:
            h = self.hours[hour] = [0, 0]
            self.prune(at)
        h[0] += count
        h[1] += size
        if minute not in self.minutes:
            self.prune(at)
        self.minutes[minute] = self.minutes.get(minute, 0) + count
        last = self.last_event
        if self.first_event is None or at < self.first_event:
            self.first_event = at
        if last is None or at > last:
            if last is not None:
                gap = int(ts) - int(last.timestamp())
                if gap >= 1:  # arrivals within one second are one arrival
                    gapstats.add(self.gaps, int(ts) // gapstats.DAY_S, gap)
                if gap >= breaks_min_s:
                    self.breaks = [*self.breaks, (last, at)][-BREAKS:]
            self.last_event = at

    def prune(self, now: datetime) -> None:
        hour, minute = hour_of(now), minute_of(now)
        for h in [h for h in self.hours if h <= hour - HOURS - 1]:
            del self.hours[h]
        for m in [m for m in self.minutes if m <= minute - 60]:
            del self.minutes[m]
        gapstats.prune(self.gaps, int(now.timestamp()) // gapstats.DAY_S)

    def hourly(self, now: datetime) -> list[int]:
        """Events in each of the last 24 UTC hours, oldest first, the current one last."""
        hour = hour_of(now)
        return [self.hours.get(h, [0, 0])[0] for h in range(hour - HOURS + 1, hour + 1)]

    def bytes_24h(self, now: datetime) -> int:
        hour = hour_of(now)
        return sum(v[1] for h, v in self.hours.items() if hour - HOURS < h <= hour)

    def events_1h(self, now: datetime) -> int:
        """Events in the last 60 minutes (to the minute)."""
        minute = minute_of(now)
        return sum(n for m, n in self.minutes.items() if minute - 60 < m <= minute)

    def gap_counts(self, now: datetime) -> dict[int, int]:
        """The gaps of the past week, by bucket."""
        return gapstats.window(self.gaps, int(now.timestamp()) // gapstats.DAY_S)

    def silence_before(self, since: datetime, now: datetime) -> float:
        """How long the silence that began after the arrival at ``since`` lasted: to the
        first arrival after it, or to ``now`` if none is known."""
        for before, after in self.breaks:
            if before >= since:
                return (after - since).total_seconds()
        return (now - since).total_seconds()


def merge(activities: Iterable[Activity]) -> dict[StreamKey, Activity]:
    """Every sink's counts of each source, added up."""
    out: dict[StreamKey, Activity] = {}
    for a in activities:
        m = out.get(a.key)
        if m is None:
            out[a.key] = a.model_copy(deep=True)
            continue
        m.events += a.events
        for h, (n, b) in a.hours.items():
            v = m.hours.setdefault(h, [0, 0])
            v[0] += n
            v[1] += b
        for mi, n in a.minutes.items():
            m.minutes[mi] = m.minutes.get(mi, 0) + n
        m.gaps = gapstats.merge([m.gaps, a.gaps])
        m.breaks = sorted({*m.breaks, *a.breaks})[-BREAKS:]
        firsts = [t for t in (m.first_event, a.first_event) if t is not None]
        lasts = [t for t in (m.last_event, a.last_event) if t is not None]
        m.first_event = min(firsts) if firsts else None
        m.last_event = max(lasts) if lasts else None
    return out


DEAD = 0
PARSE = 1
PARSE_REASONS = frozenset({"not_json", "not_object", "too_large", "invalid", "undecodable"})
"""Dead letters of input that could not be read as an event: the parse errors."""


class Rejects(BaseModel):
    """One (tenant, source)'s dead letters per UTC hour, as one dead-letter sink counted
    them: dead letters name a source, not a connector or stream."""

    model_config = ConfigDict(extra="forbid")

    version: int = 1
    tenant: str
    source: str
    hours: dict[int, list[int]] = {}
    """UTC hour -> [dead letters, parse errors among them]."""

    def count(self, at: datetime, reason: str) -> None:
        v = self.hours.setdefault(hour_of(at), [0, 0])
        v[DEAD] += 1
        v[PARSE] += reason in PARSE_REASONS
        hour = hour_of(at)
        for h in [h for h in self.hours if h <= hour - HOURS - 1]:
            del self.hours[h]

    def last_24h(self, now: datetime) -> tuple[int, int]:
        """(dead letters, parse errors) of the last 24 UTC hours."""
        hour = hour_of(now)
        window = [v for h, v in self.hours.items() if hour - HOURS < h <= hour]
        return sum(v[DEAD] for v in window), sum(v[PARSE] for v in window)


def merge_rejects(rejects: Iterable[Rejects]) -> dict[tuple[str, str], Rejects]:
    out: dict[tuple[str, str], Rejects] = {}
    for r in rejects:
        m = out.setdefault((r.tenant, r.source), Rejects(tenant=r.tenant, source=r.source))
        for h, (d, p) in r.hours.items():
            v = m.hours.setdefault(h, [0, 0])
            v[DEAD] += d
            v[PARSE] += p
    return out
