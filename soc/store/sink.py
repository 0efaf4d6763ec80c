"""The dead-letter sink: dead letters from the bus into the store."""

from __future__ import annotations

import asyncio

from soc.bus import Bus, Topic
from soc.bus.codec import decode
from soc.log import get_logger
from soc.metrics import DEAD_LETTERS_STORED
from soc.models import DeadLetter
from soc.retry import poll_retrying, until_done
from soc.store.base import Store

log = get_logger(__name__)

GROUP = "soc-deadletters"


class DeadLetterSink:
    """Stores every dead letter; commits only after the store has them."""

    def __init__(self, *, bus: Bus, store: Store, batch_size: int = 500) -> None:
        self._bus = bus
        self._store = store
        self._batch_size = batch_size
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        sub = await self._bus.subscribe(Topic.deadletters, GROUP)
        try:
            while not self._stopping.is_set():
                batch = await poll_retrying(
                    sub,
                    max_records=self._batch_size,
                    stage="deadletters",
                    stopping=self._stopping,
                )
                if not batch:
                    continue
                letters, bad = decode(DeadLetter, batch)
                for _, why in bad:
                    # A dead letter that is itself unreadable cannot be stored as one;
                    # it stays on the bus topic, and an operator must look.
                    log.error("unreadable dead letter left on the bus", extra={"reason": why})

                async def step(letters: list[DeadLetter] = letters) -> None:
                    await self._store.put_dead_letters(letters)

                await until_done(step, stage="deadletters", stopping=self._stopping)
                for d in letters:
                    DEAD_LETTERS_STORED.labels(stage=d.stage).inc()
                await sub.commit()
        finally:
            await sub.close()
