"""Every source as the API and `soc sources` show it: heartbeats, activity, dead letters,
loss, and its state.

A source is a (tenant, connector, source, stream) that a connector's heartbeat named
(soc.sources.book) or that sent events (soc.sources.activity); either may be missing.
Its ``state`` is the worse of what its events say (soc.sources.health: quiet past its
expected interval) and what its heartbeats say (healthy, late, silent: a dead agent's
source is silent however rarely it sends); confirmed loss in the ledger makes a source
that is not silent ``losing``. Dead letters name a source, not a stream: each stream of
that source shows its source's count.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

from soc.models import UtcDatetime, utcnow
from soc.settings import SourcesSettings
from soc.sources.activity import HOURS, Activity
from soc.sources.book import SourceBook, SourceState, SourceView
from soc.sources.health import Health, IntervalFrom, expected, judge, worst
from soc.sources.keeper import load_activity, load_rejects
from soc.sources.models import StreamKey
from soc.sources.records import LedgerRecords
from soc.store.records import Records


class SourceStatus(BaseModel):
    """One source: what its connector last reported, what arrived, and its state."""

    model_config = ConfigDict(extra="forbid")

    tenant: str
    connector: str
    source: str
    stream: str
    state: Health
    # The heartbeat's word (None for a source that sends events but no heartbeat).
    first_seen: UtcDatetime | None = None
    """When a heartbeat first named this stream."""
    last_seen: UtcDatetime | None = None
    """When the last heartbeat naming this stream arrived."""
    interval_s: float | None = None
    """The connector's heartbeat interval, as it reported it."""
    version: str | None = None
    host: str | None = None
    seq: int | None = None
    """Highest seq the connector's destination acknowledged."""
    sent: int | None = None
    """Highest seq the connector has handed to its destination (acknowledged or not)."""
    backlog: int = 0
    oldest_backlog_s: float = 0.0
    failures: int = 0
    heartbeat_state: SourceState | None = None
    """Healthy, late (no heartbeat for 2 intervals) or silent (for 5); None: no heartbeat."""
    # What arrived (None and zeros for a source only heartbeats know of).
    first_event: UtcDatetime | None = None
    last_event: UtcDatetime | None = None
    """When its last event reached the SOC (drills' events never count)."""
    events_1h: int = 0
    events_24h: int = 0
    bytes_24h: int = 0
    parse_errors_24h: int = 0
    dead_letters_24h: int = 0
    hourly: list[int] = Field(default_factory=lambda: [0] * HOURS, min_length=HOURS)
    """Events in each of the last 24 UTC hours, oldest first, the current hour last."""
    expected_interval_s: float | None = None
    """The longest quiet expected between two events (None: no events yet)."""
    expected_interval_from: IntervalFrom | None = None
    """``configured`` (sources.expected), ``learned`` (its gaps over the past week) or
    ``default`` (too little history yet)."""
    lost: int = 0
    """Records in the ledger's confirmed gaps of this stream."""


def _status(
    key: StreamKey,
    beat: SourceView | None,
    act: Activity | None,
    rejects: tuple[int, int],
    lost: int,
    settings: SourcesSettings,
    now: datetime,
) -> SourceStatus:
    out = SourceStatus(
        tenant=key.tenant,
        connector=key.connector,
        source=key.source,
        stream=key.stream,
        state=Health.healthy,
        dead_letters_24h=rejects[0],
        parse_errors_24h=rejects[1],
        lost=lost,
    )
    if beat is not None:
        for name in (
            "first_seen",
            "last_seen",
            "interval_s",
            "version",
            "host",
            "seq",
            "sent",
            "backlog",
            "oldest_backlog_s",
            "failures",
        ):
            setattr(out, name, getattr(beat, name))
        out.heartbeat_state = beat.state
        out.state = Health(beat.state.value)
        if lost and out.state is not Health.silent:
            out.state = Health.losing
    if act is not None and act.last_event is not None:
        exp = expected(key, act.gap_counts(now), settings)
        out.first_event = act.first_event
        out.last_event = act.last_event
        out.hourly = act.hourly(now)
        out.events_24h = sum(out.hourly)
        out.events_1h = act.events_1h(now)
        out.bytes_24h = act.bytes_24h(now)
        out.expected_interval_s = exp.interval_s
        out.expected_interval_from = exp.origin
        by_events = judge(
            act.last_event,
            exp.interval_s,
            silent_factor=settings.silent_factor,
            now=now,
            losing=lost > 0,
        )
        # A heartbeat silence (the agent is gone) is not hidden by a long event interval.
        out.state = by_events if beat is None else worst(by_events, out.state)
    return out


async def statuses(
    records: Records,
    settings: SourcesSettings,
    tenants: Sequence[str] | None,
    *,
    connector: str | None = None,
    now: datetime | None = None,
    activity: dict[StreamKey, Activity] | None = None,
) -> list[SourceStatus]:
    """Every source of ``tenants`` (None: all), by tenant, connector, source and stream
    (``activity``: the sources' counts, if already read)."""
    at = now or utcnow()
    scope = None if tenants is None else list(tenants)
    beats = {
        StreamKey(v.tenant, v.connector, v.source, v.stream): v
        for v in await SourceBook(records).list(scope, connector=connector, now=at)
    }
    acts = activity if activity is not None else await load_activity(records, scope)
    rejects = {k: r.last_24h(at) for k, r in (await load_rejects(records, scope)).items()}
    ledger = await LedgerRecords(records).merged(scope)
    reconciled = ledger.reconcile(at, timedelta(seconds=settings.grace_s))
    lost = {s.key: s.lost for s in reconciled.streams if s.lost}
    keys = set(beats) | set(acts)
    if connector:
        keys = {k for k in keys if k.connector == connector}
    if scope is not None:
        keys = {k for k in keys if k.tenant in scope}
    return [
        _status(
            k,
            beats.get(k),
            acts.get(k),
            rejects.get((k.tenant, k.source), (0, 0)),
            lost.get(k, 0),
            settings,
            at,
        )
        for k in sorted(keys)
    ]
