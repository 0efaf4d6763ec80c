"""The correlation stage: base-rule matches from the bus, correlation alerts into the store.

The detector publishes every match a correlation references to the matches topic, keyed
by (tenant, correlation, group-by values), so all the matches of one group meet in one
partition whatever host or event partition they came from. The partitions are spread
over the members of the ``soc-correlate`` consumer group; each member keeps one
:class:`~soc.detect.correlation.evaluate.Evaluator` per partition it owns (a *task*, as
in Kafka Streams), so a partition's state and watermark depend on its own matches only
and move between processes whole.

For each batch: feed each task the matches after its position; store the correlation
alerts and publish them to the alerts topic (grouping makes incidents of them, as of
any alert); write each task's changed groups, its tenants' watermarks and its new
position to the same partition of the compacted changelog ``<prefix>.correlation-state``;
then the runtime commits the input offsets. Every second, :meth:`Correlator.maintain`
runs the evaluators' idle flush and checkpoints the same way.

A partition's state is restored, when a member first sees a match of it, from the
changelog records up to the last position record (a tail after it is a checkpoint cut
short by a crash: its keys are rewritten at once); matches before the position are
skipped, since the state holds them already. The input offsets committed are never
ahead of the changelog, so a member killed anywhere, or a partition moved to another
member, resumes exactly where the last checkpoint stood: no window is lost, and the
alerts raised again after it have the same deterministic ids (the stores keep the first
write; grouping skips an alert already in an incident). A member gives its partitions up
(:meth:`Correlator.revoked`) only between batches. See docs/adr/0013-correlations.md,
"The correlation stage".
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from soc import fastjson
from soc.bus import Bus, Message, Subscription, Topic
from soc.bus.base import Changelog, Record
from soc.bus.codec import decode, encode
from soc.detect.correlation.catalog import Correlations
from soc.detect.correlation.evaluate import Evaluator, GroupState, Snapshot, TenantState
from soc.detect.correlation.model import CorrelationMatch, group_key_text
from soc.log import get_logger
from soc.metrics import (
    ALERTS_RAISED,
    CORRELATION_ALERT_LATENCY,
    CORRELATION_GROUPS,
    CORRELATION_RESTORES,
    EVENTS_PROCESSED,
    EVENTS_REJECTED,
)
from soc.models import Alert, utcnow
from soc.settings import CorrelateSettings, CorrelationSettings
from soc.stages.runtime import Consumer, ConsumerStage
from soc.store import Store

log = get_logger(__name__)

CHANGELOG = "correlation-state"
TICK_S = 1.0
"""How often the evaluators' idle flush runs (``detect.correlation.idle_flush_s`` decides
when a tenant counts as idle)."""
RECEIVED_KEPT = 100_000
"""Receipt times of recent base alerts kept for the latency metric."""

POSITION = "position"
"""The changelog key of a partition's position: the next input offset not in its state."""
GROUP, TENANT = "g:", "t:"
"""Changelog key prefixes: a group's state, a tenant's watermark."""


@dataclass(slots=True, eq=False)
class _Task:
    """One partition's evaluator, how far it has read, and what it has not yet written."""

    evaluator: Evaluator
    fed: int
    """The next input offset to feed (earlier ones are in the evaluator's state)."""
    unsaved: dict[str, bytes | None] = field(default_factory=dict)
    written: int = -1
    """The position last written to the changelog."""


class Correlator(ConsumerStage[Message]):
    """Consumes the matches topic as one member of the correlation consumer group."""

    name = "correlate"

    def __init__(
        self,
        *,
        catalog: Correlations | Callable[[], Correlations],
        bus: Bus,
        store: Store,
        settings: CorrelateSettings,
        correlation: CorrelationSettings,
    ) -> None:
        """``catalog``: the correlations, or where to read the latest (rules change live)."""
        super().__init__()
        self._source = catalog if callable(catalog) else (lambda: catalog)
        self._catalog = self._source()
        self._bus = bus
        self._store = store
        self._settings = settings
        self._correlation = correlation
        self.batch_size = settings.batch_size
        self._tasks: dict[int, _Task] = {}
        self._outbox: dict[str, Alert] = {}
        """Correlation alerts raised and not yet stored and published."""
        self._changelog: Changelog | None = None
        self._lock = asyncio.Lock()
        """Held while a batch or a tick is handled: partitions are given up only between."""
        self.restored = 0
        """Groups restored from the changelog so far."""
        self._generation = 0
        """Counts revocations: a batch polled before one may hold partitions given up since."""
        self._polled_in = 0
        self._last_tick = time.monotonic()
        self._received: OrderedDict[str, datetime] = OrderedDict()

    async def subscribe(self) -> Subscription:
        self._changelog = await self._bus.changelog(CHANGELOG, like=Topic.matches)
        return await self._bus.subscribe(Topic.matches, self._settings.group, rebalance=self)

    def describe(self) -> dict[str, object]:
        return {
            "group": self._settings.group,
            "correlations": len(self._catalog),
            "partitions": sorted(self._tasks),
        }

    @property
    def partitions(self) -> frozenset[int]:
        """The partitions whose state this member holds."""
        return frozenset(self._tasks)

    async def revoked(self, partitions: frozenset[int]) -> None:
        """Drop the state of ``partitions`` (their next owner restores it from the changelog).

        Waits for the batch in hand: its checkpoint is written before the lock is released.
        """
        async with self._lock:
            self._generation += 1
            for partition in partitions:
                if self._tasks.pop(partition, None) is not None:
                    log.info(
                        "correlation partition given up",
                        extra={"stage": self.name, "partition": partition},
                    )
            self._report_groups()

    async def _poll(self, consumer: Consumer[Message]) -> Sequence[Message]:
        batch = await super()._poll(consumer)
        self._polled_in = self._generation
        return batch

    async def process(self, batch: Sequence[Message]) -> None:
        async with self._lock:
            await self._feed(batch)
            await self._flush()

    async def maintain(self) -> None:
        """The idle flush, every TICK_S: windows close without waiting for a next match."""
        if time.monotonic() - self._last_tick < TICK_S and not self._outbox:
            return
        self._last_tick = time.monotonic()
        async with self._lock:
            self._follow_rules()
            for task in self._tasks.values():
                self._raised(task.evaluator.tick())
                self._note(task)
            await self._flush()

    # --- a batch in -----------------------------------------------------------------------

    async def _feed(self, batch: Sequence[Message]) -> None:
        """Feed every message after its task's position (idempotent: a retried batch, or
        the records before a restored position, are skipped)."""
        self._follow_rules()
        by_partition: dict[int, list[Message]] = {}
        for message in batch:
            by_partition.setdefault(message.partition, []).append(message)
        fed = 0
        for partition, messages in sorted(by_partition.items()):
            task = self._tasks.get(partition)
            if task is None:
                if self._polled_in != self._generation:
                    continue  # given up since the poll: its next owner reads these again
                task = await self._restore(partition)
            fresh = [m for m in messages if m.offset >= task.fed]
            if not fresh:
                continue
            matches, bad = decode(CorrelationMatch, fresh)
            for message, reason in bad:
                EVENTS_REJECTED.labels(stage=self.name, reason="undecodable").inc()
                log.error(
                    "match on the bus does not decode",
                    extra={"partition": partition, "offset": message.offset, "error": reason},
                )
            known = [m for m in matches if m.correlation_id in self._catalog.by_id]
            for match in known:
                if match.received is not None:
                    self._remember(match.alert_id, match.received)
            if len(known) < len(matches):
                # A correlation removed from the rules: its queued matches have nowhere to go.
                EVENTS_REJECTED.labels(stage=self.name, reason="unknown_correlation").inc(
                    len(matches) - len(known)
                )
            self._raised(task.evaluator.feed(known))
            task.fed = fresh[-1].offset + 1
            self._note(task)
            fed += len(fresh)
        EVENTS_PROCESSED.labels(stage=self.name).inc(fed)

    def _follow_rules(self) -> None:
        """Take the correlations as the rules hold them now; the evaluators keep their open
        windows (a correlation removed drops its groups: Evaluator.use)."""
        latest = self._source()
        if latest is not self._catalog:
            self._catalog = latest
            for task in self._tasks.values():
                task.evaluator.use(latest)

    def _raised(self, alerts: list[Alert]) -> None:
        for alert in alerts:
            self._outbox.setdefault(alert.id, alert)

    def _remember(self, alert_id: str, received: datetime) -> None:
        self._received[alert_id] = received
        if len(self._received) > RECEIVED_KEPT:
            self._received.popitem(last=False)

    # --- output and checkpoint ------------------------------------------------------------

    async def _flush(self) -> None:
        """Store and publish the alerts raised, then checkpoint every task that changed.

        In that order: a checkpoint never covers an alert that is not stored yet. A
        failure leaves both queued, and the retry writes them again.
        """
        if self._outbox:
            alerts = list(self._outbox.values())
            await self._store.put_alerts(alerts)
            await self._bus.publish(Topic.alerts, encode(alerts))
            self._outbox.clear()
            self._count(alerts)
        assert self._changelog is not None
        for partition, task in self._tasks.items():
            if not task.unsaved and task.written == task.fed:
                continue
            records: list[Record] = [*task.unsaved.items(), (POSITION, str(task.fed).encode())]
            await self._changelog.write(partition, records)
            task.unsaved.clear()
            task.written = task.fed
        self._report_groups()

    def _note(self, task: _Task) -> None:
        """Move the evaluator's changes since the last call into the task's unsaved records."""
        for key, value in changelog_records(task.evaluator.changes()):
            task.unsaved[key] = value

    def _count(self, alerts: list[Alert]) -> None:
        now = utcnow()
        for alert in alerts:
            ALERTS_RAISED.labels(level=alert.severity.value).inc()
            last = alert.correlation.alert_ids[-1] if alert.correlation else None
            received = self._received.get(last) if last else None
            if received is not None:
                CORRELATION_ALERT_LATENCY.observe(max(0.0, (now - received).total_seconds()))

    def _report_groups(self) -> None:
        CORRELATION_GROUPS.set(sum(t.evaluator.groups for t in self._tasks.values()))

    # --- restore --------------------------------------------------------------------------

    async def _restore(self, partition: int) -> _Task:
        """The partition's state from the changelog, and its position (0 if none)."""
        assert self._changelog is not None
        records = await self._changelog.read(partition)
        snapshot, position, torn = restored_state(records)
        evaluator = Evaluator.restore(
            self._catalog, snapshot, self._correlation, track_changes=True
        )
        task = self._tasks[partition] = _Task(evaluator=evaluator, fed=position)
        if torn:
            # Rewrite the keys a crash left after the last position, from the state as of it.
            state = {key: value for key, value in changelog_records(evaluator.snapshot())}
            task.unsaved = {key: state.get(key) for key in torn}
            task.written = -1
        CORRELATION_RESTORES.inc()
        self.restored += evaluator.groups
        log.info(
            "correlation partition restored",
            extra={
                "stage": self.name,
                "partition": partition,
                "position": position,
                "groups": evaluator.groups,
                "records": len(records),
                "torn": len(torn),
            },
        )
        return task


def changelog_records(changes: Snapshot) -> list[Record]:
    """An evaluator's changes as changelog records (a removed group is a tombstone)."""
    out: list[Record] = [(TENANT + t.tenant, t.model_dump_json().encode()) for t in changes.tenants]
    out += [(_group_key(t, c, d, g), None) for t, c, d, g in changes.removed]
    out += [
        (_group_key(g.tenant, g.correlation_id, g.drill, g.group), g.model_dump_json().encode())
        for g in changes.groups
    ]
    return out


def restored_state(records: Sequence[Record]) -> tuple[Snapshot, int, set[str]]:
    """The state as of the last position record: (snapshot, position, keys written after it)."""
    last = max((i for i, (key, _) in enumerate(records) if key == POSITION), default=-1)
    position = int(records[last][1] or b"0") if last >= 0 else 0
    latest: dict[str, bytes | None] = {}
    for key, value in records[: last + 1]:
        latest[key] = value
    torn = {key for key, _ in records[last + 1 :] if key != POSITION}
    snapshot = Snapshot()
    for key, value in latest.items():
        if value is None:
            continue
        if key.startswith(TENANT):
            snapshot.tenants.append(TenantState.model_validate_json(value))
        elif key.startswith(GROUP):
            snapshot.groups.append(GroupState.model_validate_json(value))
    return snapshot, position, torn


def _group_key(tenant: str, correlation_id: str, drill: str | None, group: Sequence[str]) -> str:
    """A live group's key is as it was before drills (changelogs written then restore); a
    drill's group also names the drill."""
    text = group_key_text(tenant, correlation_id, tuple(group))
    return GROUP + (text if drill is None else fastjson.canonical([text, drill]))
