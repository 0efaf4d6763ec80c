"""The dead-letter sink: dead letters from the bus into the store.

Every refused input (a bad line at ingest, an event the detector could not
handle, a batch the store refused) reaches the ``deadletters`` topic with its
reason; this stage stores each one (idempotently by id) and commits only
after the store has them, and counts them per (tenant, source) for the sources'
view (soc.sources.keeper). A dead letter that is itself unreadable cannot be
stored as one: it stays on the bus topic, logged at ERROR for an operator.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from soc.bus import Bus, Message, Subscription, Topic
from soc.bus.codec import decode
from soc.log import get_logger
from soc.metrics import DEAD_LETTERS_STORED
from soc.models import DeadLetter
from soc.settings import SourcesSettings
from soc.sources.keeper import RejectsKeeper
from soc.stages.ledger import DeadLetterLedger
from soc.stages.runtime import ConsumerStage, Keeper
from soc.store import Store

log = get_logger(__name__)

GROUP = "soc-deadletters"


class DeadLetterSink(ConsumerStage[Message]):
    """Stores every dead letter; commits only after the store has them."""

    name = "deadletters"

    def __init__(
        self,
        *,
        bus: Bus,
        store: Store,
        batch_size: int = 500,
        sources: SourcesSettings | None = None,
    ) -> None:
        """``sources``: count each (tenant, source)'s dead letters (soc.sources.keeper),
        and keep the ledger of refused records that stated their origin
        (soc.stages.ledger.DeadLetterLedger)."""
        super().__init__()
        self._bus = bus
        self._store = store
        self.batch_size = batch_size
        self.rejects = RejectsKeeper(store=store, settings=sources) if sources else None
        self.ledger = DeadLetterLedger(store=store, settings=sources) if sources else None
        if sources is not None:  # saved before each commit: exact after a crash
            self.commit_every_s = sources.snapshot_s

    def kept(self) -> dict[str, Keeper]:
        if self.rejects is None or self.ledger is None:
            return {}
        return {"dead letter counts": self.rejects, "dead letters' ledger": self.ledger}

    async def subscribe(self) -> Subscription:
        return await self._bus.subscribe(Topic.deadletters, GROUP)

    async def process(self, batch: Sequence[Message]) -> None:
        letters, bad = decode(DeadLetter, batch)
        for _, why in bad:
            log.error("unreadable dead letter left on the bus", extra={"reason": why})
        # Decoded and reported once; only the write is tried again while the store is down.
        await self.retrying(partial(self._store.put_dead_letters, letters))
        for d in letters:
            DEAD_LETTERS_STORED.labels(stage=d.stage).inc()
        if self.rejects is not None and self.ledger is not None:
            self.rejects.observe(letters)
            self.ledger.observe(letters)
