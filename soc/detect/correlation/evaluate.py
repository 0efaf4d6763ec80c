"""Sigma correlations evaluated over a stream of matches, by event time, in bounded state.

    evaluator = Evaluator(catalog, settings.detect.correlation, clock=time.monotonic)
    alerts = evaluator.feed(matches)      # correlation alerts that are now certain
    alerts += evaluator.tick()            # the idle flush (call it every second or so)
    alerts += evaluator.finish()          # end of input: every window closes
    snapshot = evaluator.snapshot()       # JSON-able; Evaluator.restore(catalog, snapshot)

Per tenant, matches wait in a queue until the **watermark** (the newest event time
seen minus ``allowed_lateness_s``) passes them; then they are final and evaluated in
(time, correlation, group, alert id) order, so the same set of matches gives the same
alerts whatever their arrival order within the lateness. A match arriving behind the
watermark is late: counted in ``soc_correlation_late_total`` and logged, not
correlated. When a tenant sends no match for ``idle_flush_s`` of wall clock, its
watermark moves to the newest time seen and then on with the clock, so a window never
waits for a next event.

A final match joins the window of its (tenant, correlation, group). Windows span
``timespan`` inclusively: matches exactly ``timespan`` apart are in one window.

- Conditions with only lower bounds (gt, gte) fire as soon as they hold over the
  window ending at the match (the matches of the last ``timespan``). The group then
  stays quiet until that window's start plus ``timespan`` (its matches are absorbed:
  counted in ``soc_correlation_matches_total{outcome="absorbed"}``) and starts afresh,
  so a burst raises one alert per window, not one per match.
- Other conditions (an upper bound, eq, neq) are judged when the window closes:
  a window opens at a group's first match and closes ``timespan`` later.

A hit's alert id derives from (correlation, tenant, group, window start); a
correlation's hit is also a match (at the hit's time) of the correlations that
reference it. See docs/adr/0013-correlations.md.
"""

from __future__ import annotations

import heapq
import itertools
import time as _time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, Field

from soc.detect.correlation.alert import CorrelationHit, make_correlation_alert
from soc.detect.correlation.catalog import Correlations
from soc.detect.correlation.measure import dedupe_key, measure
from soc.detect.correlation.model import NUMERIC_TYPES, Correlation, CorrelationMatch
from soc.log import get_logger
from soc.metrics import (
    CORRELATION_ALERTS,
    CORRELATION_EVICTIONS,
    CORRELATION_GROUPS,
    CORRELATION_LATE,
    CORRELATION_MATCHES,
)
from soc.models import Alert
from soc.settings import CorrelationSettings

log = get_logger(__name__)

GroupKey = tuple[str, str, str | None, tuple[str, ...]]
"""(tenant, correlation id, drill, group-by values): a drill's matches (``drill`` set, from
the events' ``origin.drill``) never share a window with live ones (``None``) or another
drill's."""

_MATCH, _CLOSE = 0, 1
_COUNTED = CORRELATION_MATCHES.labels(outcome="counted")
_DUPLICATE = CORRELATION_MATCHES.labels(outcome="duplicate")
_LATE = CORRELATION_MATCHES.labels(outcome="late")
_ABSORBED = CORRELATION_MATCHES.labels(outcome="absorbed")
_UNKNOWN = CORRELATION_MATCHES.labels(outcome="unknown_correlation")
_EVICTED_GROUP = CORRELATION_EVICTIONS.labels(kind="group")
_EVICTED_MATCH = CORRELATION_EVICTIONS.labels(kind="match")
_FORCED = CORRELATION_EVICTIONS.labels(kind="forced")
_FAR_FUTURE = datetime.max.replace(tzinfo=UTC) - timedelta(days=1)


class GroupState(BaseModel):
    """One group's state, as it is checkpointed (one record per group key)."""

    tenant: str
    correlation_id: str
    group: list[str]
    drill: str | None = None
    """The drill whose matches it holds; ``None``: live (every state written before drills)."""
    window: list[CorrelationMatch] = Field(default_factory=list)
    """The final matches of the open window, in time order."""
    opened: datetime | None = None
    """When a window judged at its close opened (its first match's time)."""
    quiet_until: datetime | None = None
    """After an eager condition fired: the end of the window it fired in."""
    pending: list[CorrelationMatch] = Field(default_factory=list)
    """Matches waiting for the watermark."""

    @property
    def key(self) -> GroupKey:
        return (self.tenant, self.correlation_id, self.drill, tuple(self.group))


class TenantState(BaseModel):
    tenant: str
    newest: datetime | None = None
    """The newest event time seen."""
    watermark: datetime | None = None
    """Matches before it are final; a new one before it is late."""


class Snapshot(BaseModel):
    """The evaluator's whole state (or the part that changed, see ``Evaluator.changes``)."""

    tenants: list[TenantState] = Field(default_factory=list)
    groups: list[GroupState] = Field(default_factory=list)
    removed: list[tuple[str, str, str | None, list[str]]] = Field(default_factory=list)
    """Group keys (tenant, correlation, drill, group) dropped since the last ``changes()``
    (empty in a full snapshot)."""


@dataclass(slots=True, eq=False)
class _Group:
    correlation: Correlation
    window: dict[str, CorrelationMatch] = field(default_factory=dict)
    opened: datetime | None = None
    quiet_until: datetime | None = None
    pending: dict[str, CorrelationMatch] = field(default_factory=dict)


_Entry = tuple[datetime, int, str, str, tuple[str, ...], str, int, CorrelationMatch | None]
"""A queued match or window close: (time, kind, correlation id, drill or "", group values,
alert id or window start, sequence, match)."""


def _sortable(key: GroupKey) -> tuple[str, str, str, tuple[str, ...]]:
    return (key[0], key[1], key[2] or "", key[3])


@dataclass(slots=True, eq=False)
class _Tenant:
    newest: datetime | None = None
    watermark: datetime | None = None
    last_arrival: float = 0.0
    queue: list[_Entry] = field(default_factory=list)


class Evaluator:
    """Evaluates every correlation of a catalog over the matches fed to it; see the module."""

    def __init__(
        self,
        catalog: Correlations,
        settings: CorrelationSettings | None = None,
        *,
        clock: Callable[[], float] = _time.monotonic,
        now: Callable[[], datetime] | None = None,
        track_changes: bool = False,
    ) -> None:
        """``track_changes``: remember the groups changed and removed for ``changes()``
        (a stage that checkpoints incrementally); off, nothing grows with the keys seen."""
        self._catalog = catalog
        self._track = track_changes
        self._settings = settings or CorrelationSettings()
        self._lateness = timedelta(seconds=self._settings.allowed_lateness_s)
        self._clock = clock
        self._now = now or (lambda: datetime.now(UTC))
        self._groups: OrderedDict[GroupKey, _Group] = OrderedDict()
        self._tenants: dict[str, _Tenant] = {}
        self._pending = 0
        self._seq = itertools.count()
        self._dirty: set[GroupKey] = set()
        self._removed: set[GroupKey] = set()
        self._dirty_tenants: set[str] = set()
        for correlation in catalog.all:
            if correlation.type in NUMERIC_TYPES:
                continue  # their thresholds are sums or averages, not counts of matches
            threshold = max((limit for _, limit in correlation.condition.bounds), default=0)
            if threshold >= self._settings.max_matches_per_group:
                log.warning(
                    "correlation threshold above the matches kept per group",
                    extra={"correlation": correlation.id, "threshold": threshold},
                )

    @property
    def catalog(self) -> Correlations:
        return self._catalog

    def use(self, catalog: Correlations) -> None:
        """Evaluate with ``catalog`` from now on (rules changed live: soc.detect.live).

        The windows open keep their matches: a correlation still there (perhaps with a new
        threshold or timespan) goes on with its groups; the groups of one removed are dropped.
        """
        self._catalog = catalog
        for key, group in list(self._groups.items()):
            current = catalog.by_id.get(group.correlation.id)
            if current is None:
                self._drop(key)
            else:
                group.correlation = current

    @property
    def settings(self) -> CorrelationSettings:
        return self._settings

    @property
    def groups(self) -> int:
        """Live groups held."""
        return len(self._groups)

    @property
    def pending(self) -> int:
        """Matches waiting for the watermark."""
        return self._pending

    # --- input --------------------------------------------------------------------------

    def feed(self, matches: Iterable[CorrelationMatch]) -> list[Alert]:
        """Take matches (in any order); the correlation alerts that became certain."""
        touched: set[str] = set()
        arrival = self._clock()
        for match in matches:
            correlation = self._catalog.by_id.get(match.correlation_id)
            if correlation is None:  # a match published before its rule was removed
                _UNKNOWN.inc()
                continue
            tenant = self._tenant(match.tenant)
            tenant.last_arrival = arrival
            if tenant.watermark is not None and match.time < tenant.watermark:
                self._late(correlation, match, tenant.watermark)
                continue
            if not self._enqueue(tenant, correlation, match):
                continue
            if tenant.newest is None or match.time > tenant.newest:
                tenant.newest = match.time
                self._dirty_tenants.add(match.tenant)
            touched.add(match.tenant)
        alerts: list[Alert] = []
        for name in sorted(touched):
            tenant = self._tenants[name]
            assert tenant.newest is not None
            self._raise_watermark(name, tenant, tenant.newest - self._lateness)
            alerts += self._advance(name, tenant)
        alerts += self._relieve()
        return alerts

    def tick(self) -> list[Alert]:
        """The idle flush: tenants idle for ``idle_flush_s`` move their watermark on."""
        now = self._clock()
        alerts: list[Alert] = []
        for name, tenant in sorted(self._tenants.items()):
            idle = now - tenant.last_arrival
            if tenant.newest is None or idle < self._settings.idle_flush_s:
                continue
            self._raise_watermark(name, tenant, tenant.newest + timedelta(seconds=idle))
            alerts += self._advance(name, tenant)
        return alerts + self._relieve()

    def finish(self) -> list[Alert]:
        """End of input (a hunt over files): every pending match is final, every window closes."""
        alerts: list[Alert] = []
        for name, tenant in sorted(self._tenants.items()):
            self._raise_watermark(name, tenant, _FAR_FUTURE)
            alerts += self._advance(name, tenant)
        return alerts

    # --- state out and in ---------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """The whole state."""
        return Snapshot(
            tenants=[self._tenant_state(name) for name in sorted(self._tenants)],
            groups=[self._group_state(key) for key in self._groups],
        )

    def changes(self) -> Snapshot:
        """The tenants and groups changed (and the groups removed) since the last call.

        Needs ``track_changes=True``; the first call gives every group changed since start.
        """
        if not self._track:
            raise RuntimeError("changes() needs an evaluator made with track_changes=True")
        out = Snapshot(
            tenants=[self._tenant_state(n) for n in sorted(self._dirty_tenants)],
            groups=[self._group_state(k) for k in self._groups if k in self._dirty],
            removed=[(t, c, d, list(g)) for t, c, d, g in sorted(self._removed, key=_sortable)],
        )
        self._dirty.clear()
        self._removed.clear()
        self._dirty_tenants.clear()
        return out

    def load(self, snapshot: Snapshot) -> None:
        """Apply a snapshot (or a series of ``changes``) to this evaluator's state.

        Groups of correlations no longer loaded are dropped (a rule removed or changed id).
        """
        for state in snapshot.tenants:
            tenant = self._tenant(state.tenant)
            tenant.newest, tenant.watermark = state.newest, state.watermark
            tenant.last_arrival = self._clock()
        for t, c, d, g in snapshot.removed:
            self._drop((t, c, d, tuple(g)))
        for group in snapshot.groups:
            correlation = self._catalog.by_id.get(group.correlation_id)
            self._drop(group.key)
            if correlation is None:
                continue
            made = self._group(group.key, correlation)
            made.window = {dedupe_key(correlation, m): m for m in group.window}
            made.opened = group.opened
            made.quiet_until = group.quiet_until
            tenant = self._tenant(group.tenant)
            if made.opened is not None:
                self._push_close(tenant, group.key, made.opened, correlation)
            for match in group.pending:
                self._enqueue(tenant, correlation, match)
        self._dirty.clear()
        self._removed.clear()
        self._dirty_tenants.clear()

    @classmethod
    def restore(
        cls,
        catalog: Correlations,
        snapshot: Snapshot,
        settings: CorrelationSettings | None = None,
        *,
        clock: Callable[[], float] = _time.monotonic,
        now: Callable[[], datetime] | None = None,
        track_changes: bool = False,
    ) -> Evaluator:
        """A new evaluator with ``snapshot``'s state."""
        evaluator = cls(catalog, settings, clock=clock, now=now, track_changes=track_changes)
        evaluator.load(snapshot)
        return evaluator

    # --- the machinery ------------------------------------------------------------------

    def _tenant(self, name: str) -> _Tenant:
        tenant = self._tenants.get(name)
        if tenant is None:
            tenant = self._tenants[name] = _Tenant(last_arrival=self._clock())
        return tenant

    def _raise_watermark(self, name: str, tenant: _Tenant, to: datetime) -> None:
        if tenant.watermark is None or to > tenant.watermark:
            tenant.watermark = to
            self._dirty_tenants.add(name)

    def _late(self, correlation: Correlation, match: CorrelationMatch, mark: datetime) -> None:
        _LATE.inc()
        CORRELATION_LATE.labels(type=correlation.type.value).inc()
        log.info(
            "correlation match late",
            extra={
                "tenant": match.tenant,
                "correlation": correlation.id,
                "rule": match.rule_id,
                "alert_id": match.alert_id,
                "event_time": match.time.isoformat(),
                "behind_s": (mark - match.time).total_seconds(),
            },
        )

    def _enqueue(self, tenant: _Tenant, correlation: Correlation, match: CorrelationMatch) -> bool:
        key = match.key
        group = self._group(key, correlation)
        if match.alert_id in group.pending:
            _DUPLICATE.inc()
            return False
        group.pending[match.alert_id] = match
        self._pending += 1
        if self._track:
            self._dirty.add(key)
        heapq.heappush(
            tenant.queue,
            (
                match.time,
                _MATCH,
                key[1],
                key[2] or "",
                key[3],
                match.alert_id,
                next(self._seq),
                match,
            ),
        )
        return True

    def _push_close(
        self, tenant: _Tenant, key: GroupKey, opened: datetime, correlation: Correlation
    ) -> None:
        closes = opened + timedelta(seconds=correlation.timespan_s)
        heapq.heappush(
            tenant.queue,
            (
                closes,
                _CLOSE,
                key[1],
                key[2] or "",
                key[3],
                opened.isoformat(),
                next(self._seq),
                None,
            ),
        )

    def _group(self, key: GroupKey, correlation: Correlation) -> _Group:
        group = self._groups.get(key)
        if group is not None:
            self._groups.move_to_end(key)
            return group
        # the cap is enforced after each batch (_relieve): evicting here would scan past
        # the batch's own groups, which all have a match waiting
        group = self._groups[key] = _Group(correlation)
        CORRELATION_GROUPS.set(len(self._groups))
        return group

    def _evict_one(self) -> bool:
        """Drop the least recently used group that has no match waiting; False if none."""
        for key, group in self._groups.items():
            if not group.pending:
                self._drop(key)
                _EVICTED_GROUP.inc()
                return True
        return False

    def _drop(self, key: GroupKey) -> None:
        group = self._groups.pop(key, None)
        if group is None:
            return
        self._pending -= len(group.pending)  # their queue entries are skipped when popped
        if self._track:
            self._dirty.discard(key)
            self._removed.add(key)
        CORRELATION_GROUPS.set(len(self._groups))

    def _relieve(self) -> list[Alert]:
        """Too many matches waiting, or too many groups (a batch may add groups that all have
        a match waiting): evaluate the oldest now (counted as forced), then evict."""
        alerts: list[Alert] = []
        while True:
            if self._pending <= self._settings.max_pending:
                if len(self._groups) <= self._settings.max_groups:
                    return alerts
                if self._evict_one():
                    continue
            name, tenant = max(self._tenants.items(), key=lambda item: len(item[1].queue))
            if not tenant.queue:
                return alerts
            head = tenant.queue[0][0]
            self._raise_watermark(name, tenant, head + timedelta(microseconds=1))
            before = self._pending
            alerts += self._advance(name, tenant)
            _FORCED.inc(max(0, before - self._pending))

    def _advance(self, name: str, tenant: _Tenant) -> list[Alert]:
        """Evaluate, in order, everything of the tenant before its watermark."""
        alerts: list[Alert] = []
        mark = tenant.watermark
        queue = tenant.queue
        while queue and mark is not None and queue[0][0] < mark:
            _, kind, correlation_id, drill, values, tag, _, match = heapq.heappop(queue)
            key = (name, correlation_id, drill or None, values)
            group = self._groups.get(key)
            if kind == _MATCH:
                assert match is not None
                if group is None or group.pending.pop(match.alert_id, None) is None:
                    continue  # its group was evicted or reloaded
                self._pending -= 1
                if self._track:
                    self._dirty.add(key)
                hit = self._final(group, match)
            else:
                if group is None or group.opened is None or group.opened.isoformat() != tag:
                    continue  # the window was evicted, or already judged
                if self._track:
                    self._dirty.add(key)
                hit = self._close(group, key)
            if hit is not None:
                alerts += self._hit(tenant, hit)
        self._expire(mark)
        return alerts

    def _final(self, group: _Group, match: CorrelationMatch) -> CorrelationHit | None:
        correlation = group.correlation
        if group.quiet_until is not None:
            if match.time <= group.quiet_until:
                _ABSORBED.inc()
                return None
            group.quiet_until = None
        _COUNTED.inc()
        window = group.window
        window.pop(dedupe_key(correlation, match), None)
        window[dedupe_key(correlation, match)] = match
        if len(window) > self._settings.max_matches_per_group:
            del window[next(iter(window))]
            _EVICTED_MATCH.inc()
        if not correlation.condition.eager:
            if group.opened is None:
                group.opened = match.time
                self._push_close(self._tenants[match.tenant], match.key, match.time, correlation)
            return None
        start = match.time - timedelta(seconds=correlation.timespan_s)
        while window:
            oldest = next(iter(window))
            if window[oldest].time >= start:
                break
            del window[oldest]
        found = measure(correlation, list(window.values()))
        if found is None or not correlation.condition.holds(found[0]):
            return None
        value, counted = found
        window.clear()
        group.quiet_until = counted[0].time + timedelta(seconds=correlation.timespan_s)
        return CorrelationHit(
            correlation=correlation,
            tenant=match.tenant,
            group=match.group,
            value=value,
            start=counted[0].time,
            end=match.time,
            matches=tuple(counted),
            drill=match.drill,
        )

    def _close(self, group: _Group, key: GroupKey) -> CorrelationHit | None:
        correlation = group.correlation
        opened = group.opened
        assert opened is not None
        matches = list(group.window.values())
        group.window.clear()
        group.opened = None
        found = measure(correlation, matches)
        if found is None or not correlation.condition.holds(found[0]):
            return None
        value, counted = found
        return CorrelationHit(
            correlation=correlation,
            tenant=key[0],
            group=key[3],
            value=value,
            start=opened,
            end=opened + timedelta(seconds=correlation.timespan_s),
            matches=tuple(counted),
            drill=key[2],
        )

    def _hit(self, tenant: _Tenant, hit: CorrelationHit) -> list[Alert]:
        """The hit's alert (unless silent), and its matches for the correlations above it."""
        correlation = hit.correlation
        CORRELATION_ALERTS.labels(type=correlation.type.value).inc()
        log.debug(
            "correlation fired",
            extra={"correlation": correlation.id, "tenant": hit.tenant, "value": hit.value},
        )
        if self._catalog.references(correlation.id):
            fields = dict(zip(correlation.group_by, hit.group, strict=True))
            hosts = {m.host for m in hit.matches}
            for outer in self._catalog.matches(
                correlation.id,
                fields,
                tenant=hit.tenant,
                time=hit.end,
                alert_id=hit.alert_id,
                event_ids=hit.event_ids,
                host=hosts.pop() if len(hosts) == 1 else None,
                drill=hit.drill,
            ):
                outer_correlation = self._catalog.by_id[outer.correlation_id]
                self._enqueue(tenant, outer_correlation, outer)
        if correlation.id in self._catalog.silent:
            return []
        return [make_correlation_alert(hit, created=self._now())]

    def _expire(self, mark: datetime | None) -> None:
        """Forget groups whose window can no longer fire (oldest used first)."""
        if mark is None:
            return
        while self._groups:
            key, group = next(iter(self._groups.items()))
            watermark = self._tenants[key[0]].watermark
            if group.pending or group.opened is not None or watermark is None:
                return
            if group.quiet_until is not None and group.quiet_until >= watermark:
                return
            newest = next(reversed(group.window.values())).time if group.window else None
            span = timedelta(seconds=group.correlation.timespan_s)
            if newest is not None and newest + span >= watermark:
                return
            self._drop(key)

    def _tenant_state(self, name: str) -> TenantState:
        tenant = self._tenants[name]
        return TenantState(tenant=name, newest=tenant.newest, watermark=tenant.watermark)

    def _group_state(self, key: GroupKey) -> GroupState:
        group = self._groups[key]
        return GroupState(
            tenant=key[0],
            correlation_id=key[1],
            group=list(key[3]),
            drill=key[2],
            window=list(group.window.values()),
            opened=group.opened,
            quiet_until=group.quiet_until,
            pending=sorted(group.pending.values(), key=lambda m: (m.time, m.alert_id)),
        )
