"""The event sink: every accepted event from the bus into the store (ADR 0012).

It is its own consumer group on the events topic, beside the detectors: storing
every event (the SOC's memory, searched by analysts and hunted again) neither
slows detection nor waits for it, and each side is scaled by its own processes.
A batch is written idempotently by event id, and its offsets are committed only
once the store has it (:class:`~soc.stages.runtime.ConsumerStage`): a sink
killed anywhere stores the batch again on restart, adding nothing twice.

An event that cannot be decoded is the detector's to dead-letter (it reads the
same messages); here it is only counted. A batch the store refuses for good is
dead-lettered whole with the reason, never dropped.
"""

from __future__ import annotations

from collections.abc import Sequence

from soc.bus import Bus, Message, Subscription, Topic
from soc.bus.codec import decode, encode
from soc.errors import StoreError
from soc.log import get_logger
from soc.metrics import EVENT_STORE_LATENCY, EVENTS_REJECTED, EVENTS_STORED
from soc.models import DeadLetter, Event, utcnow
from soc.notify.notifier import Notifier
from soc.settings import SourcesSettings, StoreSettings
from soc.sources.keeper import ActivityKeeper
from soc.stages.ledger import LedgerKeeper
from soc.stages.runtime import ConsumerStage, Keeper
from soc.store import Store

log = get_logger(__name__)


class EventSink(ConsumerStage[Message]):
    """Stores every event of the events topic; commits only after the store has them."""

    name = "events"

    def __init__(
        self,
        *,
        bus: Bus,
        store: Store,
        settings: StoreSettings,
        sources: SourcesSettings | None = None,
        notifier: Notifier | None = None,
    ) -> None:
        """``sources``: keep the loss ledger of what is stored (soc.stages.ledger) and each
        source's activity (soc.sources.keeper); ``notifier``: tell the ledger's gaps
        (soc.notify)."""
        super().__init__()
        self._bus = bus
        self._store = store
        self._group = settings.events_group
        self.batch_size = settings.events_batch_size
        self.ledger = (
            LedgerKeeper(bus=bus, store=store, settings=sources, notifier=notifier)
            if sources is not None
            else None
        )
        self.activity = (
            ActivityKeeper(store=store, settings=sources) if sources is not None else None
        )
        if sources is not None:  # the ledger saved before each commit: exact after a crash
            self.commit_every_s = sources.snapshot_s

    def kept(self) -> dict[str, Keeper]:
        """The ledger and the sources' activity, when kept (see ``sources``)."""
        kept: dict[str, Keeper] = {}
        if self.ledger is not None:
            kept["loss ledger"] = self.ledger
        if self.activity is not None:
            kept["sources' activity"] = self.activity
        return kept

    async def subscribe(self) -> Subscription:
        return await self._bus.subscribe(Topic.events, self._group)

    def describe(self) -> dict[str, object]:
        return {"group": self._group}

    async def process(self, batch: Sequence[Message]) -> None:
        events, undecodable = decode(Event, batch)
        bad = {id(m) for m, _ in undecodable}
        sizes = [len(m.value) for m in batch if id(m) not in bad]
        for _ in undecodable:  # dead-lettered by the detector, which reads the same message
            EVENTS_REJECTED.labels(stage="events", reason="undecodable").inc()
        if not events:
            return
        try:
            await self._store.put_events(events)
        except StoreError as e:
            if e.retriable:
                raise  # the runtime backs off and processes the batch again
            await self._refused(events, e)
            return
        EVENTS_STORED.inc(len(events))
        # Durable now: they count as arrived. Events delivered again (at-least-once: a
        # rebalance, a restart) are the ledger's duplicates, and not counted as activity.
        fresh = self.ledger.observe(events) if self.ledger is not None else None
        if self.activity is not None:
            if fresh is not None and not all(fresh):
                kept = [(e, n) for e, n, f in zip(events, sizes, fresh, strict=True) if f]
                self.activity.observe([e for e, _ in kept], [n for _, n in kept])
            else:
                self.activity.observe(events, sizes)
        now = utcnow()
        for event in events:
            EVENT_STORE_LATENCY.observe((now - event.received).total_seconds())

    async def _refused(self, events: list[Event], error: StoreError) -> None:
        log.error(
            "store refused a batch of events; they go to dead letters",
            extra={"events": len(events), "error": str(error)},
        )
        dead = [
            DeadLetter.of(
                e.model_dump_json().encode(),
                tenant=e.tenant,
                source=e.source,
                received=utcnow(),
                stage="events",
                reason="store_refused",
                detail=str(error),
            )
            for e in events
        ]
        await self._bus.publish(Topic.deadletters, encode(dead))
        EVENTS_REJECTED.labels(stage="events", reason="store_refused").inc(len(dead))
