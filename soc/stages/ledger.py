"""The loss ledger in the running SOC: kept by the event sink, reconciled, raised as alerts.

The event sink (:class:`~soc.stages.events.EventSink`) hands each batch to its
:class:`LedgerKeeper` once the store has it. The keeper restores its owner's snapshot
at start (soc.sources.records), writes it before each commit of the sink's offsets (at
most every ``sources.snapshot_s`` under load) and at stop, and every
``sources.reconcile_s`` reconciles the account of every stream: its own ledger, written
first, merged with the other owners' (a stream moved by a rebalance is in two). It sets
the ledger's gauges and raises one alert per confirmed gap (:data:`LOSS_RULE_ID`,
severity high, no host), stored and published on the alerts topic so grouping makes an
incident of it. The alert's id is fixed by the stream and the gap, and one already
stored is not raised again: several sinks, or a restart, raise it once.

A sink that crashes (rather than stops) loses the arrivals since its last snapshot
from its account, but not their events: their offsets were not committed yet, so the
next owner of the partition reads them again and counts them.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Sequence
from datetime import datetime, timedelta

from soc.bus import Bus, Topic
from soc.bus.codec import encode
from soc.log import get_logger
from soc.models import Alert, DeadLetter, Event, LogSource, Severity, digest, utcnow
from soc.notify.notifier import Notifier
from soc.settings import SourcesSettings
from soc.sources.ledger import DUPLICATE, Ledger, publish
from soc.sources.models import Gap, Reconciliation, StreamReconciliation
from soc.sources.records import LedgerRecords
from soc.store import Store

log = get_logger(__name__)

LOSS_RULE_ID = "soc-ledger-events-lost"
"""The house rule of the loss alert: events lost between a connector and the SOC."""
LOSS_RULE_TITLE = "Events lost between connector and SOC"


def loss_alert_id(stream: StreamReconciliation, gap: Gap) -> str:
    return digest(
        LOSS_RULE_ID,
        stream.tenant,
        stream.connector,
        stream.source,
        stream.stream,
        str(gap.from_seq),
        str(gap.to_seq),
    )


def loss_alert(stream: StreamReconciliation, gap: Gap, *, created: datetime) -> Alert:
    """The alert of one confirmed gap: which stream, which seqs, how many."""
    where = f"{stream.connector}/{stream.source}/{stream.stream}"
    return Alert(
        id=loss_alert_id(stream, gap),
        tenant=stream.tenant,
        rule_id=LOSS_RULE_ID,
        rule_title=f"{LOSS_RULE_TITLE}: {where} seq {gap.from_seq}..{gap.to_seq} "
        f"({gap.count} records)",
        severity=Severity.high,
        tags=["soc.sources.loss"],
        event_id=f"ledger:{where}#{gap.from_seq}-{gap.to_seq}",
        time=gap.first_seen,
        created=created,
        host=None,
        source=stream.source,
        logsource=LogSource(),
    )


class LedgerKeeper:
    """One event sink's ledger: observe, save, restore, reconcile and alert."""

    def __init__(
        self,
        *,
        bus: Bus,
        store: Store,
        settings: SourcesSettings,
        notifier: Notifier | None = None,
    ) -> None:
        """``notifier``: each new gap is also told (trigger ``loss_detected``, soc.notify)."""
        self._bus = bus
        self._notifier = notifier
        self._store = store
        self._settings = settings
        self.owner = settings.owner or socket.gethostname()
        self.records = LedgerRecords(store)
        self.ledger = Ledger()
        self._dirty = False
        now = time.monotonic()
        self._reconcile_at = now + settings.reconcile_s
        self._raised: set[str] = set()

    async def restore(self) -> None:
        self.ledger = Ledger.restore(await self.records.load(self.owner))
        log.info("loss ledger restored", extra={"owner": self.owner, "streams": len(self.ledger)})

    def observe(self, events: Sequence[Event]) -> list[bool]:
        """Count a batch the store now has; for each event, whether it is not a duplicate
        (an event without origin, or a drill's, is not counted and is not one)."""
        observe = self.ledger.observe
        fresh = [observe(e.tenant, e.origin) != DUPLICATE for e in events]
        if events:
            self._dirty = True
        return fresh

    async def save(self) -> None:
        """Write the ledger if it changed (the sink calls it before each commit)."""
        if self._dirty:
            await self.records.save(self.owner, self.ledger, utcnow())
            self._dirty = False

    async def maintain(self) -> None:
        """Reconcile when due (called after every poll of the sink)."""
        if time.monotonic() >= self._reconcile_at:
            await self.reconcile()
            self._reconcile_at = time.monotonic() + self._settings.reconcile_s

    async def reconcile(self, at: datetime | None = None) -> Reconciliation:
        """Every owner's account merged, at ``at``: gauges set, new gaps raised as alerts."""
        now = at or utcnow()
        grace = timedelta(seconds=self._settings.grace_s)
        self.ledger.reconcile(now, grace)  # stamps this ledger's timeline of known seqs
        self._dirty = True
        await self.save()
        merged = await self.records.merged(None)
        result = merged.reconcile(now, grace)
        # This owner's ranges below what every owner together holds without a hole give
        # way to one number (soc.sources.ledger, "Settling"): written at the next save.
        settled = [self.ledger.settle(k, upto) for k, upto in merged.settled_prefixes().items()]
        self._dirty = self._dirty or any(settled)
        publish(result)
        gaps: dict[str, tuple[StreamReconciliation, Gap]] = {}
        alerts: dict[str, Alert] = {}
        for s in result.losing:
            for gap in s.gaps:
                if (a := loss_alert(s, gap, created=now)).id not in self._raised:
                    alerts[a.id] = a
                    gaps[a.id] = (s, gap)
        if alerts:
            stored = await self._store.get_alerts(list(alerts), tenants=None)
            self._raised.update(a.id for a in stored)
            new = [a for a in alerts.values() if a.id not in self._raised]
            if new:
                await self._store.put_alerts(new)
                await self._bus.publish(Topic.alerts, encode(new))
                self._raised.update(a.id for a in new)
                if self._notifier is not None:
                    for a in new:
                        stream, gap = gaps[a.id]
                        await self._notifier.loss_detected(
                            tenant=stream.tenant,
                            connector=stream.connector,
                            source=stream.source,
                            stream=stream.stream,
                            first=gap.from_seq,
                            last=gap.to_seq,
                            lost=gap.count,
                        )
                log.warning(
                    "events lost between connectors and the SOC",
                    extra={"alerts": len(new), "lost": result.lost},
                )
        return result


class DeadLetterLedger:
    """The dead-letter sink's account of refused records that stated their origin.

    A record refused at ingest (a line that names its origin but is otherwise invalid)
    reached the SOC: it is in the dead letters, not lost. This ledger of its own (owner
    ``<owner>/deadletters``) is merged with the event sinks' when they reconcile, so its
    seqs count as arrived. It is saved before each commit of the sink, as theirs are.
    """

    def __init__(self, *, store: Store, settings: SourcesSettings) -> None:
        self._settings = settings
        self.owner = f"{settings.owner or socket.gethostname()}/deadletters"
        self.records = LedgerRecords(store)
        self.ledger = Ledger()
        self._dirty = False

    async def restore(self) -> None:
        self.ledger = Ledger.restore(await self.records.load(self.owner))

    def observe(self, letters: Sequence[DeadLetter]) -> None:
        for d in letters:
            if d.origin is not None:
                self.ledger.observe(d.tenant, d.origin)
                self._dirty = True

    async def save(self) -> None:
        if self._dirty:
            now = utcnow()
            # Stamps the timeline of known seqs (when each was first known), as the sinks do.
            self.ledger.reconcile(now, timedelta(seconds=self._settings.grace_s))
            await self.records.save(self.owner, self.ledger, now)
            self._dirty = False

    async def maintain(self) -> None:
        """Nothing between commits: saved before each."""
